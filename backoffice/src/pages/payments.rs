//! Payments, for finance: every payment (PayHere's, bank transfers, cash collected), what needs a
//! decision (chargebacks, refunds stuck or refused, signed notifications that did not match),
//! what each courier owes for cash on delivery, and its remittance report imported. Refunds
//! and bank-transfer confirmations are made on the order's page.

use axum::{
    body::Bytes,
    extract::{Multipart, State},
    response::Response,
};
use http::Method;
use minijinja::context;
use pola_core::extract::Query;
use pola_storefront::client::ApiRequest;
use serde::{Deserialize, Serialize};

use super::{Area, colombo_day_start};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer},
    templates::value,
};

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct PaymentSearch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

impl PaymentSearch {
    /// The API's query for this search (Colombo days as UTC instants).
    fn api_query(&self) -> String {
        let some = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let mut query = vec![("limit", "50".to_owned())];
        query.extend(some(&self.method).map(|m| ("method", m)));
        query.extend(some(&self.status).map(|s| ("status", s)));
        query.extend(some(&self.from).and_then(|d| colombo_day_start(&d, 0)).map(|d| ("since", d)));
        query.extend(some(&self.to).and_then(|d| colombo_day_start(&d, 1)).map(|d| ("until", d)));
        query.extend(some(&self.cursor).map(|c| ("cursor", c)));
        serde_urlencoded::to_string(&query).unwrap_or_default()
    }
}

/// The payments page, with a remittance import's report (or its refusal) when there is one.
async fn payments_page(
    office: &Backoffice,
    staffer: &Staffer,
    search: &PaymentSearch,
    report: Option<serde_json::Value>,
    refused: Option<serde_json::Value>,
) -> Result<Response, Error> {
    let page: serde_json::Value = office
        .get(staffer, &format!("/api/v1/payments/staff/payments?{}", search.api_query()))
        .await?;
    let exceptions: serde_json::Value = office.get(staffer, "/api/v1/payments/staff/exceptions").await?;
    let owed: serde_json::Value = office.get(staffer, "/api/v1/payments/staff/cod-owed").await?;
    let next = page["next_cursor"].as_str().map(|cursor| {
        let kept = PaymentSearch {
            cursor: Some(cursor.to_owned()),
            ..search.clone()
        };
        format!(
            "/backoffice/payments?{}",
            serde_urlencoded::to_string(&kept).unwrap_or_default()
        )
    });
    let failed = refused.is_some();
    let ctx = context! {
        page => value(&page),
        exceptions => value(&exceptions),
        owed => value(&owed),
        search => value(search),
        next => next,
        report => value(&report),
        refused => value(&refused),
    };
    office.form_page(staffer, "payments.html", ctx, failed)
}

/// `GET /backoffice/payments`
pub async fn list(State(office): Office, desk: Desk, Query(search): Query<PaymentSearch>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Payments).await?;
    payments_page(&office, &staffer, &search, None, None).await
}

/// `POST /backoffice/payments/remittances` (a form with the courier and its CSV report).
pub async fn import_remittance(State(office): Office, desk: Desk, mut form: Multipart) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Payments).await?;
    let (mut csrf, mut courier, mut file) = (String::new(), String::new(), Bytes::new());
    while let Some(field) = form.next_field().await.map_err(|_| Error::BadForm)? {
        match field.name().unwrap_or_default() {
            "csrf" => csrf = field.text().await.map_err(|_| Error::BadForm)?,
            "courier" => courier = field.text().await.map_err(|_| Error::BadForm)?,
            "file" => file = field.bytes().await.map_err(|_| Error::BadForm)?,
            _ => {}
        }
    }
    office.check_csrf(&staffer.desk, &csrf)?;
    let query = serde_urlencoded::to_string([("courier", courier.trim())]).unwrap_or_default();
    let request = ApiRequest::new(Method::POST, format!("/api/v1/payments/staff/cod-remittances?{query}")).raw("text/csv", file);
    let reply = office.send(&staffer.desk, request, Some(staffer.token())).await?;
    let search = PaymentSearch::default();
    match reply.status.as_u16() {
        200 => payments_page(&office, &staffer, &search, Some(reply.body), None).await,
        400 | 409 | 413 | 422 => payments_page(&office, &staffer, &search, None, Some(reply.body)).await,
        _ => Err(reply.into_problem().into()),
    }
}
