//! The pages: signing in and enrolling, the dashboard, and the shared frame (menu by role,
//! error pages). Each area's pages live in a module of their own.

pub mod catalogue;
pub mod customers;
pub mod orders;
pub mod payments;
pub mod promotions;
pub mod reports;
pub mod staff;
pub mod stock;
pub mod support;
pub mod system;

use axum::{
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::Method;
use minijinja::{Value, context};
use pola_core::auth::Role;
use pola_identity::model::staff::{Enrolment, RecoveryCodes, SessionStarted, SessionState};
use pola_storefront::client::{ApiError, ApiRequest};
use serde::Deserialize;
use serde_json::json;

use crate::{
    Backoffice, Error, PREFIX,
    desk::{Desk, Office, Staffer},
};

/// A part of the back-office, and who may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Dashboard,
    Orders,
    Catalogue,
    Stock,
    Payments,
    Promotions,
    Customers,
    Support,
    Reports,
    Staff,
    Audit,
    System,
}

impl Area {
    /// The menu, in order.
    const ALL: [Area; 12] = [
        Area::Dashboard,
        Area::Orders,
        Area::Payments,
        Area::Catalogue,
        Area::Stock,
        Area::Promotions,
        Area::Customers,
        Area::Support,
        Area::Reports,
        Area::Staff,
        Area::Audit,
        Area::System,
    ];

    fn href(self) -> &'static str {
        match self {
            Area::Dashboard => "/backoffice/",
            Area::Orders => "/backoffice/orders",
            Area::Catalogue => "/backoffice/catalogue",
            Area::Stock => "/backoffice/stock",
            Area::Payments => "/backoffice/payments",
            Area::Promotions => "/backoffice/promotions",
            Area::Customers => "/backoffice/customers",
            Area::Support => "/backoffice/support",
            Area::Reports => "/backoffice/reports",
            Area::Staff => "/backoffice/staff",
            Area::Audit => "/backoffice/audit",
            Area::System => "/backoffice/system",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Area::Dashboard => "Dashboard",
            Area::Orders => "Orders",
            Area::Catalogue => "Catalogue",
            Area::Stock => "Stock",
            Area::Payments => "Payments",
            Area::Promotions => "Promotions",
            Area::Customers => "Customers",
            Area::Support => "Support desk",
            Area::Reports => "Reports",
            Area::Staff => "Staff",
            Area::Audit => "Audit trail",
            Area::System => "System",
        }
    }

    /// The roles that open it (an admin opens everything).
    pub fn roles(self) -> &'static [Role] {
        match self {
            Area::Dashboard => &[Role::Catalog, Role::Fulfilment, Role::Support, Role::Finance],
            Area::Orders => &crate::ORDER_ROLES,
            Area::Catalogue => &[Role::Catalog],
            Area::Stock => &[Role::Catalog, Role::Fulfilment],
            Area::Payments => &[Role::Finance],
            Area::Promotions => &[Role::Catalog, Role::Finance],
            Area::Customers | Area::Support => &[Role::Support],
            // Each report says who may run it; every role has some.
            Area::Reports => &[Role::Catalog, Role::Fulfilment, Role::Support, Role::Finance],
            Area::Staff | Area::Audit | Area::System => &[Role::Admin],
        }
    }
}

impl Backoffice {
    /// A page: `template` with `page`'s values and the frame's (menu, who is signed in, CSRF).
    pub(crate) fn page(&self, desk: &Desk, staffer: Option<&Staffer>, template: &str, page: Value) -> Result<Response, Error> {
        let menu: Vec<serde_json::Value> = staffer
            .map(|s| {
                Area::ALL
                    .into_iter()
                    .filter(|area| s.has(area.roles()))
                    .map(|area| json!({"href": area.href(), "label": area.label()}))
                    .collect()
            })
            .unwrap_or_default();
        let me = staffer.map(|s| json!({"name": s.account.name, "email": s.account.email, "roles": s.account.roles}));
        let ctx = context! {
            csrf => self.csrf_token(desk),
            path => desk.path.split('?').next().unwrap_or_default(),
            menu => crate::templates::value(&menu),
            me => crate::templates::value(&me),
            ..page
        };
        let html = self
            .templates
            .get_template(template)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Unavailable(format!("template {template}: {e:#}")))?;
        let mut response = axum::response::Html(html).into_response();
        self.keep(desk, &mut response);
        Ok(response)
    }

    /// A page that shows a refusal's reasons when `refused`, answered with 422 then.
    pub(crate) fn form_page(&self, staffer: &Staffer, template: &str, page: Value, refused: bool) -> Result<Response, Error> {
        let mut response = self.page(&staffer.desk, Some(staffer), template, page)?;
        if refused {
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        }
        Ok(response)
    }

    /// What a page can do without (the dashboard's counts): the API's answer at `path`, or
    /// nothing when it cannot answer (logged).
    async fn optional(&self, staffer: &Staffer, path: &str) -> Option<serde_json::Value> {
        match self.get(staffer, path).await {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::warn!(path, error = %e, "left out of the page");
                None
            }
        }
    }

    /// The signed-in staff member, if they may use `area`.
    pub(crate) async fn enter(&self, desk: Desk, area: Area) -> Result<Staffer, Error> {
        let staffer = self.staffer(desk).await?;
        staffer.require(area.roles())?;
        Ok(staffer)
    }
}

/// What a page says was just done (`?done=`), after the redirect that follows a form.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// A Colombo date (`2026-12-02`) as the UTC time its day starts, `days` later (filters).
pub fn colombo_day_start(date: &str, days: i64) -> Option<String> {
    chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok().map(|d| {
        let start = d.and_hms_opt(0, 0, 0).expect("midnight exists") - chrono::Duration::minutes(330);
        (start + chrono::Duration::days(days)).and_utc().to_rfc3339()
    })
}

/// `GET /backoffice`
pub async fn to_dashboard() -> Redirect {
    Redirect::permanent("/backoffice/")
}

/// `GET /backoffice/`: what needs doing today.
pub async fn dashboard(State(office): Office, desk: Desk) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Dashboard).await?;
    let glance = office.optional(&staffer, "/api/v1/orders/staff/at-a-glance").await;
    let tickets = office.optional(&staffer, "/api/v1/support/staff/at-a-glance").await;
    let stock = match staffer.has(Area::Stock.roles()) {
        true => office.optional(&staffer, "/api/v1/inventory/locations").await,
        false => None,
    };
    let sites = office.optional(&staffer, "/api/v1/sites").await;
    let ctx = context! {
        glance => crate::templates::value(&glance),
        tickets => crate::templates::value(&tickets),
        stock => crate::templates::value(&stock),
        sites => crate::templates::value(&sites),
        works_orders => staffer.has(&crate::ORDER_ROLES),
        works_support => staffer.has(&[Role::Support]),
    };
    office.page(&staffer.desk, Some(&staffer), "dashboard.html", ctx)
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    done: Option<String>,
}

/// Where to go after signing in: a back-office page, never elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with("/backoffice/") && !next.starts_with("//") && !next.contains("://") => next.to_owned(),
        _ => "/backoffice/".to_owned(),
    }
}

/// `GET /backoffice/sign-in`
pub async fn sign_in_page(
    State(office): Office,
    desk: Desk,
    pola_core::extract::Query(query): pola_core::extract::Query<NextQuery>,
) -> Result<Response, Error> {
    let page = context! { next => safe_next(query.next.as_deref()), done => query.done };
    office.page(&desk, None, "sign_in.html", page)
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    code: String,
    next: Option<String>,
}

/// `POST /backoffice/sign-in`: email, password and the app's code.
pub async fn sign_in(State(office): Office, mut desk: Desk, body: Bytes) -> Result<Response, Error> {
    let form: SignInForm = office.form(&desk, &body)?;
    let code = form.code.trim();
    let request = ApiRequest::new(Method::POST, "/api/v1/identity/staff/sessions").json(json!({
        "email": form.email, "password": form.password, "code": (!code.is_empty()).then_some(code),
    }));
    let reply = office.send(&desk, request, None).await?;
    let next = safe_next(form.next.as_deref());
    match reply.status.as_u16() {
        201 => {
            let started: SessionStarted = reply.into_result()?;
            desk.signed_in(started.session);
            let to = match started.state {
                SessionState::Active => next,
                SessionState::Enrolling => "/backoffice/enrol".to_owned(),
            };
            Ok(office.redirect(&desk, &to))
        }
        status @ (401 | 429) => {
            let page = context! { next => next, email => form.email, failed => if status == 429 { "busy" } else { "refused" } };
            let mut response = office.page(&desk, None, "sign_in.html", page)?;
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
            Ok(response)
        }
        _ => Err(reply.into_problem().into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {}

/// `POST /backoffice/sign-out`: the session ends at once, everywhere.
pub async fn sign_out(State(office): Office, mut desk: Desk, body: Bytes) -> Result<Response, Error> {
    let CsrfOnly {} = office.form(&desk, &body)?;
    if desk.session().is_some() {
        office
            .session_call(&desk, Method::DELETE, "/api/v1/identity/staff/sessions/current", json!({}))
            .await?;
    }
    desk.signed_out();
    Ok(office.redirect(&desk, "/backoffice/sign-in?done=signed-out"))
}

/// The QR code of an `otpauth://` URI, as an SVG data URI.
fn qr_data_uri(uri: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::Unavailable(format!("a QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg)))
}

fn enrol_page_with(office: &Backoffice, desk: &Desk, enrolment: &Enrolment, failed: bool) -> Result<Response, Error> {
    let page = context! {
        qr => qr_data_uri(&enrolment.otpauth_uri)?,
        secret => &enrolment.secret,
        uri => &enrolment.otpauth_uri,
        failed => failed,
    };
    office.page(desk, None, "enrol.html", page)
}

/// `GET /backoffice/enrol`: a new secret to scan.
pub async fn enrol_page(State(office): Office, desk: Desk) -> Result<Response, Error> {
    let reply = office
        .session_call(&desk, Method::POST, "/api/v1/identity/staff/sessions/current/totp", json!({}))
        .await?;
    match reply.status.as_u16() {
        200 => enrol_page_with(&office, &desk, &reply.into_result()?, false),
        401 => Err(Error::SignIn("/backoffice/".into())),
        409 => Ok(office.redirect(&desk, "/backoffice/")),
        _ => Err(reply.into_problem().into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    code: String,
    /// The secret on the page, to show it again after a wrong code (identity keeps its own).
    secret: String,
    uri: String,
}

/// `POST /backoffice/enrol`: the app's first code confirms the secret.
pub async fn enrol(State(office): Office, desk: Desk, body: Bytes) -> Result<Response, Error> {
    let form: EnrolForm = office.form(&desk, &body)?;
    let reply = office
        .session_call(
            &desk,
            Method::POST,
            "/api/v1/identity/staff/sessions/current/totp/confirm",
            json!({"code": form.code}),
        )
        .await?;
    match reply.status.as_u16() {
        200 => {
            let codes: RecoveryCodes = reply.into_result()?;
            office.page(&desk, None, "recovery.html", context! { codes => codes.recovery_codes })
        }
        401 => Err(Error::SignIn("/backoffice/".into())),
        422 => {
            let enrolment = Enrolment {
                secret: form.secret,
                otpauth_uri: form.uri,
            };
            let mut response = enrol_page_with(&office, &desk, &enrolment, true)?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        _ => Err(reply.into_problem().into()),
    }
}

/// The page for a failure: to the sign-in page when the session ended, to enrolment when
/// there is no app yet, else a page that says what happened (and the request id to quote).
pub fn error_page(office: &Backoffice, error: &Error, status: StatusCode, path: &str) -> Response {
    match error {
        Error::SignIn(next) => {
            let next = if next.starts_with("/backoffice/") {
                next.as_str()
            } else {
                path
            };
            let query = serde_urlencoded::to_string([("next", safe_next(Some(next)))]).unwrap_or_default();
            return Redirect::to(&format!("{PREFIX}/sign-in?{query}")).into_response();
        }
        Error::Enrol => return Redirect::to("/backoffice/enrol").into_response(),
        _ => {}
    }
    let (title, detail, request_id) = match error {
        Error::NotFound => ("Not found", "There is nothing at this address.".to_owned(), None),
        Error::Forbidden => (
            "Not for your role",
            "Your roles do not open this page or action; nothing was changed.".to_owned(),
            None,
        ),
        Error::Csrf => (
            "Form expired",
            "The form was too old or not from this session; nothing was changed. Go back, reload and try again.".to_owned(),
            None,
        ),
        Error::BadForm => (
            "Form not readable",
            "The form could not be read; nothing was changed.".to_owned(),
            None,
        ),
        Error::Api(ApiError::Refused(problem)) => (
            "Refused",
            problem.detail.clone().unwrap_or_else(|| problem.title.clone()),
            problem.request_id.clone(),
        ),
        Error::Api(ApiError::Unavailable(_)) | Error::Unavailable(_) | Error::SignIn(_) | Error::Enrol => {
            tracing::error!(error = %error, "a back-office page failed");
            (
                "Unavailable",
                "The shop could not answer just now; try again in a moment.".to_owned(),
                None,
            )
        }
    };
    let desk_less = Desk::anonymous(path);
    let page = context! { title => title, detail => detail, status => status.as_u16(), request_id => request_id };
    match office.page(&desk_less, None, "error.html", page) {
        Ok(mut response) => {
            *response.status_mut() = status;
            response
        }
        Err(_) => status.into_response(),
    }
}
