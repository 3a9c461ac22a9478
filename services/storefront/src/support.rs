//! The customer's side of the support desk, in their language: their requests, a new one (about
//! one of their orders or not), and a request's thread with a reply box.

use std::sync::Arc;

use axum::{body::Bytes, extract::State, response::Response};
use http::Method;
use minijinja::{Value, context, value::Serde};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Error, Storefront, Visit,
    api::sign_in_first,
    client::{ApiError, ApiRequest},
};

type Shop = State<Arc<Storefront>>;
type Page = Result<Response, Error>;

/// The categories a customer picks from, in the order they are offered.
const CATEGORIES: [&str; 7] = [
    "late_delivery",
    "damaged_or_wrong_item",
    "refund",
    "payment_taken_no_order",
    "cod",
    "product_question",
    "account",
];

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct TicketForm {
    #[serde(default)]
    category: String,
    #[serde(default)]
    order_id: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    message: String,
}

async fn support_page(shop: &Storefront, visit: &mut Visit, form: &TicketForm, errors: Vec<String>, sent: bool) -> Page {
    let tickets: serde_json::Value = shop.get(visit, "/api/v1/support/tickets").await?;
    let orders: serde_json::Value = shop.get(visit, "/api/v1/orders?limit=20").await?;
    let failed = !errors.is_empty();
    let mut response = shop.page(
        visit,
        "support.html",
        context! {
            tickets => Value::from(Serde(&tickets)), orders => Value::from(Serde(&orders["items"])),
            categories => Value::from(Serde(&CATEGORIES)), form => Value::from(Serde(form)),
            errors => Value::from(Serde(&errors)), sent => sent,
        },
    )?;
    if failed {
        *response.status_mut() = http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// `GET /account/support`
pub async fn support(State(shop): Shop, mut visit: Visit) -> Page {
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, "/account/support"));
    }
    support_page(&shop, &mut visit, &TicketForm::default(), vec![], false).await
}

/// `POST /account/support`: a new request.
pub async fn open_ticket(State(shop): Shop, mut visit: Visit, body: Bytes) -> Page {
    let form: TicketForm = shop.form(&visit, &body)?;
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, "/account/support"));
    }
    let order = form.order_id.parse::<Uuid>().ok();
    let request = ApiRequest::new(Method::POST, "/api/v1/support/tickets").json(json!({
        "category": form.category, "order_id": order, "subject": form.subject, "message": form.message,
    }));
    let reply = shop.call(&mut visit, request).await?;
    match reply.into_result::<serde_json::Value>() {
        Ok(ticket) => {
            let id = ticket["id"].as_str().unwrap_or_default().to_owned();
            Ok(shop.redirect(&visit, &format!("/account/support/{id}?sent=1")))
        }
        Err(ApiError::Refused(problem)) if problem.status == 422 || problem.status == 400 => {
            let mut errors: Vec<String> = problem.errors.iter().map(|e| e.field.clone()).collect();
            if errors.is_empty() {
                errors.push("category".into());
            }
            support_page(&shop, &mut visit, &form, errors, false).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Sent {
    sent: Option<String>,
}

async fn ticket_page(shop: &Storefront, visit: &mut Visit, id: Uuid, sent: bool, refused: bool) -> Page {
    let ticket: serde_json::Value = shop.get(visit, &format!("/api/v1/support/tickets/{id}")).await?;
    shop.page(
        visit,
        "ticket.html",
        context! { ticket => Value::from(Serde(&ticket)), sent => sent, refused => refused },
    )
}

/// `GET /account/support/{id}`: another customer's request is not found.
pub async fn ticket(
    State(shop): Shop,
    mut visit: Visit,
    pola_core::extract::Path(id): pola_core::extract::Path<Uuid>,
    pola_core::extract::Query(sent): pola_core::extract::Query<Sent>,
) -> Page {
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, &format!("/account/support/{id}")));
    }
    ticket_page(&shop, &mut visit, id, sent.sent.is_some(), false).await
}

#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    message: String,
}

/// `POST /account/support/{id}`: the customer's reply (a resolved request reopens).
pub async fn reply(
    State(shop): Shop,
    mut visit: Visit,
    pola_core::extract::Path(id): pola_core::extract::Path<Uuid>,
    body: Bytes,
) -> Page {
    let form: ReplyForm = shop.form(&visit, &body)?;
    if !visit.session.signed_in() {
        return Ok(sign_in_first(&shop, &visit, &format!("/account/support/{id}")));
    }
    let request =
        ApiRequest::new(Method::POST, format!("/api/v1/support/tickets/{id}/messages")).json(json!({"message": form.message}));
    match shop.call(&mut visit, request).await?.into_result::<serde_json::Value>() {
        Ok(_) => Ok(shop.redirect(&visit, &format!("/account/support/{id}?sent=1"))),
        Err(ApiError::Refused(problem)) if matches!(problem.status, 409 | 422) => {
            let mut response = ticket_page(&shop, &mut visit, id, false, true).await?;
            *response.status_mut() = http::StatusCode::from_u16(problem.status).unwrap_or(http::StatusCode::CONFLICT);
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
