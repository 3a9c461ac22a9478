//! Customers, for support: found by email, phone or NIC (masked), one customer's orders, and a
//! field of their personal data revealed for a reason the audit trail keeps.

use axum::{body::Bytes, extract::State, response::Response};
use http::Method;
use minijinja::context;
use pola_core::extract::{Path, Query};
use pola_storefront::client::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Area, orders::Lookup};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer, refusal},
    templates::value,
};

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct CustomerSearch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
}

/// `GET /backoffice/customers`
pub async fn list(State(office): Office, desk: Desk, Query(search): Query<CustomerSearch>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Customers).await?;
    let (found, refused) = match search.q.as_deref().and_then(Lookup::of) {
        None | Some(Lookup::Number(_)) => (vec![], None),
        Some(lookup) => match office.customers(&staffer, lookup).await {
            Ok(found) => (found, None),
            Err(Error::Api(ApiError::Refused(problem))) if problem.status == 422 => (vec![], Some(*problem)),
            Err(e) => return Err(e),
        },
    };
    let ctx = context! { found => value(&found), search => value(&search), refused => value(&refused) };
    office.page(&staffer.desk, Some(&staffer), "customers.html", ctx)
}

async fn customer_page(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    revealed: Option<serde_json::Value>,
    refused: Option<serde_json::Value>,
) -> Result<Response, Error> {
    let profile: serde_json::Value = office.get(staffer, &format!("/api/v1/identity/staff/customers/{id}")).await?;
    let orders: serde_json::Value = office
        .get(staffer, &format!("/api/v1/orders/staff/orders?customers={id}&limit=50"))
        .await?;
    let failed = refused.is_some();
    let ctx = context! {
        profile => value(&profile), orders => value(&orders["items"]), revealed => value(&revealed), refused => value(&refused),
    };
    office.form_page(staffer, "customer.html", ctx, failed)
}

/// `GET /backoffice/customers/{id}`
pub async fn customer(State(office): Office, desk: Desk, Path(id): Path<Uuid>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Customers).await?;
    customer_page(&office, &staffer, id, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct RevealForm {
    field: String,
    reason: String,
}

/// `POST /backoffice/customers/{id}/reveal`: one field in clear, for a reason; shown once, on
/// this answer only.
pub async fn reveal(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Customers).await?;
    let form: RevealForm = office.form(&staffer.desk, &body)?;
    let path = format!("/api/v1/identity/staff/customers/{id}/reveal");
    let reply = office
        .write(
            &staffer,
            Method::POST,
            &path,
            json!({"field": form.field, "reason": form.reason}),
        )
        .await?;
    if reply.status.is_success() {
        return customer_page(&office, &staffer, id, Some(reply.body), None).await;
    }
    customer_page(&office, &staffer, id, None, Some(refusal(reply)?)).await
}
