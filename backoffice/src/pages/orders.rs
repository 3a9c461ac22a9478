//! Orders: find them (by number, a customer's email, phone or NIC, state, district, date), open
//! one with its timeline and payments, and do what its state and the staff member's roles allow:
//! confirm a bank transfer, refund, cancel, print a pick list, pack, ship, record the delivery.

use axum::{body::Bytes, extract::State, http::StatusCode, response::Response};
use http::Method;
use minijinja::{Value, context};
use pola_core::{
    auth::Role,
    extract::{Path, Query},
};
use pola_storefront::{client::ApiError, model::rupees_to_cents};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Area, Done, colombo_day_start};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer, refusal},
    templates::value,
};

/// The order states, in the order an order moves through them, as staff read them.
const STATES: [(&str, &str); 10] = [
    ("pending_payment", "Waiting for payment"),
    ("paid", "Paid"),
    ("confirmed", "Cash on delivery"),
    ("packed", "Packed"),
    ("shipped", "Shipped"),
    ("delivered", "Delivered"),
    ("delivery_failed", "Delivery failed"),
    ("returned", "Returned"),
    ("cancelled", "Cancelled"),
    ("refunded", "Refunded"),
];

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct OrderSearch {
    /// An order number, an email, a phone number or a NIC number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    district: Option<String>,
    /// How the order is paid (`payhere`, `bank_transfer`, `cod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

/// What a search box holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Number(String),
    Email(String),
    Nic(String),
    Phone(String),
}

impl Lookup {
    pub(crate) fn of(q: &str) -> Option<Self> {
        let q = q.trim().trim_start_matches('#');
        if q.is_empty() {
            return None;
        }
        let digits = q.chars().filter(char::is_ascii_digit).count();
        let nic_like =
            (q.len() == 10 && digits == 9 && q.to_ascii_uppercase().ends_with(['V', 'X'])) || (q.len() == 12 && digits == 12);
        Some(if q.contains('@') {
            Lookup::Email(q.to_owned())
        } else if nic_like {
            Lookup::Nic(q.to_owned())
        } else if q.len() == 8 && q.chars().all(|c| c.is_ascii_hexdigit()) {
            // Eight characters are never a phone number here (those have nine digits or more),
            // and an order number may start with 0 or be all digits.
            Lookup::Number(q.to_uppercase())
        } else {
            Lookup::Phone(q.to_owned())
        })
    }
}

impl Backoffice {
    /// Customers an email, phone or NIC names, masked, through identity's blind indexes.
    pub(crate) async fn customers(&self, staffer: &Staffer, lookup: Lookup) -> Result<Vec<serde_json::Value>, Error> {
        let (kind, value) = match lookup {
            Lookup::Email(v) => ("email", v),
            Lookup::Nic(v) => ("nic", v),
            Lookup::Phone(v) | Lookup::Number(v) => ("phone", v),
        };
        let query = serde_urlencoded::to_string([(kind, value)]).unwrap_or_default();
        self.get(staffer, &format!("/api/v1/identity/staff/customers?{query}")).await
    }

    /// The orders API's query for a search: a customer look-up through identity first when the
    /// box holds an email, phone or NIC. `None` when no customer matches.
    async fn orders_query(&self, staffer: &Staffer, search: &OrderSearch) -> Result<Option<OrdersQuery>, Error> {
        let mut pairs: Vec<(&str, String)> = vec![("limit", "50".into())];
        let since = search.from.as_deref().and_then(|d| colombo_day_start(d, 0));
        let until = search.to.as_deref().and_then(|d| colombo_day_start(d, 1));
        let cursor = search.cursor.clone().filter(|c| !c.is_empty());
        // By payment method: payments knows it, so its list of orders is what pages.
        let mut by_method = None;
        if let Some(method) = search.method.as_deref().filter(|m| !m.is_empty()) {
            let mut query = vec![("limit", "50".to_owned()), ("method", method.to_owned())];
            query.extend(since.clone().map(|s| ("since", s)));
            query.extend(until.clone().map(|u| ("until", u)));
            query.extend(cursor.clone().map(|c| ("cursor", c)));
            let path = format!(
                "/api/v1/payments/staff/checkouts?{}",
                serde_urlencoded::to_string(&query).unwrap_or_default()
            );
            let checkouts: serde_json::Value = self.get(staffer, &path).await?;
            let ids: Vec<&str> = checkouts["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["order_id"].as_str())
                .collect();
            if ids.is_empty() {
                return Ok(None);
            }
            pairs.push(("orders", ids.join(",")));
            by_method = Some(checkouts["next_cursor"].as_str().map(str::to_owned));
        }
        match search.q.as_deref().and_then(Lookup::of) {
            Some(Lookup::Number(number)) => pairs.push(("number", number)),
            Some(lookup) => {
                let found = self.customers(staffer, lookup).await?;
                let ids: Vec<&str> = found.iter().filter_map(|c| c["id"].as_str()).collect();
                if ids.is_empty() {
                    return Ok(None);
                }
                pairs.push(("customers", ids.join(",")));
            }
            None => {}
        }
        for (name, value) in [("status", &search.status), ("district", &search.district)] {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                pairs.push((name, value.to_owned()));
            }
        }
        pairs.extend(since.map(|s| ("since", s)));
        pairs.extend(until.map(|u| ("until", u)));
        if by_method.is_none() {
            pairs.extend(cursor.map(|c| ("cursor", c)));
        }
        Ok(Some(OrdersQuery {
            api: serde_urlencoded::to_string(pairs).unwrap_or_default(),
            by_method,
        }))
    }
}

/// The orders API's query for a search.
struct OrdersQuery {
    api: String,
    /// Narrowed by payment method: where payments' list of orders goes on (the page's cursor).
    by_method: Option<Option<String>>,
}

fn states() -> Value {
    value(
        &STATES
            .iter()
            .map(|(code, label)| json!({"code": code, "label": label}))
            .collect::<Vec<_>>(),
    )
}

fn state_labels() -> Value {
    value(
        &STATES
            .iter()
            .map(|(code, label)| (*code, *label))
            .collect::<std::collections::HashMap<_, _>>(),
    )
}

/// `GET /backoffice/orders`
pub async fn list(State(office): Office, desk: Desk, Query(search): Query<OrderSearch>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Orders).await?;
    let (page, by_method): (serde_json::Value, _) = match office.orders_query(&staffer, &search).await {
        Ok(Some(query)) => match office
            .get(&staffer, &format!("/api/v1/orders/staff/orders?{}", query.api))
            .await
        {
            Err(Error::Api(ApiError::Refused(problem))) if problem.status == 422 => {
                (json!({"items": [], "refused": problem}), None)
            }
            other => (other?, query.by_method),
        },
        Ok(None) => (json!({"items": []}), None),
        Err(Error::Api(ApiError::Refused(problem))) if problem.status == 422 => (json!({"items": [], "refused": problem}), None),
        Err(e) => return Err(e),
    };
    let cursor = match by_method {
        Some(next) => next,
        None => page["next_cursor"].as_str().map(str::to_owned),
    };
    let next = cursor.map(|cursor| {
        let mut next = serde_urlencoded::to_string(&search).unwrap_or_default();
        next = next
            .split('&')
            .filter(|p| !p.starts_with("cursor="))
            .collect::<Vec<_>>()
            .join("&");
        format!("/backoffice/orders?{next}&cursor={cursor}")
    });
    let ctx = context! {
        page => value(&page),
        search => value(&search),
        states => states(),
        labels => state_labels(),
        districts => pola_core::districts::DISTRICTS,
        next => next,
    };
    office.page(&staffer.desk, Some(&staffer), "orders.html", ctx)
}

/// The order page: the order, its payments and audit, what this staff member may do next, and
/// (after a reveal) the full address or (after a refusal) why.
async fn order_page(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    revealed: Option<serde_json::Value>,
    refused: Option<serde_json::Value>,
    done: Option<String>,
) -> Result<Response, Error> {
    let order: serde_json::Value = office.get(staffer, &format!("/api/v1/orders/staff/orders/{id}")).await?;
    let payment: serde_json::Value = office.get(staffer, &format!("/api/v1/payments/staff/orders/{id}")).await?;
    let status = order["status"].as_str().unwrap_or_default();
    let method = payment["payment"]["method"].as_str().unwrap_or_default();
    let paid: i64 = payment["payment"]["payments"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["status"] == "succeeded")
                .map(|p| p["amount"]["amount_minor"].as_i64().unwrap_or(0) - p["refunded"]["amount_minor"].as_i64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    let can = |roles: &[Role]| staffer.has(roles);
    let actions = json!({
        "confirm_transfer": can(&[Role::Finance]) && status == "pending_payment" && method == "bank_transfer",
        "refund": can(&[Role::Finance]) && paid > 0,
        "cancel": can(&[Role::Support]) && matches!(status, "pending_payment" | "paid" | "confirmed" | "packed"),
        "pack": can(&[Role::Fulfilment]) && matches!(status, "paid" | "confirmed"),
        "ship": can(&[Role::Fulfilment]) && status == "packed",
        "delivered": can(&[Role::Fulfilment]) && matches!(status, "shipped"),
        "delivery_failed": can(&[Role::Fulfilment]) && status == "shipped",
        "returned": can(&[Role::Fulfilment]) && status == "delivery_failed",
        "reveal": can(&[Role::Fulfilment, Role::Support]) && order["delivery"].is_object(),
    });
    let ctx = context! {
        order => value(&order),
        payment => value(&payment),
        actions => value(&actions),
        labels => state_labels(),
        refundable => paid,
        revealed => value(&revealed),
        refused => value(&refused),
        done => done,
    };
    let mut response = office.page(&staffer.desk, Some(staffer), "order.html", ctx)?;
    if refused.is_some() {
        *response.status_mut() = StatusCode::CONFLICT;
    }
    Ok(response)
}

/// `GET /backoffice/orders/{id}`
pub async fn order(State(office): Office, desk: Desk, Path(id): Path<Uuid>, Query(done): Query<Done>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Orders).await?;
    order_page(&office, &staffer, id, None, None, done.done).await
}

/// `GET /backoffice/orders/{id}/pick-list`: what to take from the shelves, to print.
pub async fn pick_list(State(office): Office, desk: Desk, Path(id): Path<Uuid>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Orders).await?;
    staffer.require(&[Role::Fulfilment])?;
    let order: serde_json::Value = office.get(&staffer, &format!("/api/v1/orders/staff/orders/{id}")).await?;
    office.page(
        &staffer.desk,
        Some(&staffer),
        "pick_list.html",
        context! { order => value(&order) },
    )
}

#[derive(Debug, Deserialize)]
pub struct RevealForm {
    reason: String,
}

/// `POST /backoffice/orders/{id}/address`: the full address for packing, with a reason.
pub async fn reveal(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Orders).await?;
    let form: RevealForm = office.form(&staffer.desk, &body)?;
    let path = format!("/api/v1/orders/staff/orders/{id}/address");
    let reply = office
        .write(&staffer, Method::POST, &path, json!({"reason": form.reason}))
        .await?;
    if reply.status.is_success() {
        return order_page(&office, &staffer, id, Some(reply.body), None, None).await;
    }
    refused(&office, &staffer, id, reply).await
}

/// The order page again with the API's reason for refusing (a 4xx other than 403), or the failure.
async fn refused(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    reply: pola_storefront::client::ApiReply,
) -> Result<Response, Error> {
    order_page(office, staffer, id, None, Some(refusal(reply)?), None).await
}

/// An action's form: every field any action takes (each action reads its own).
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    courier: String,
    #[serde(default)]
    waybill: String,
    /// Rupees as typed (`1,250.00`).
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    note: String,
}

fn optional(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

/// `POST /backoffice/orders/{id}/{action}`: one step of the order's life, through the API.
pub async fn act(
    State(office): Office,
    desk: Desk,
    Path((id, action)): Path<(Uuid, String)>,
    body: Bytes,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Orders).await?;
    let form: ActionForm = office.form(&staffer.desk, &body)?;
    let amount = || {
        rupees_to_cents(&form.amount)
            .map(serde_json::Value::from)
            .unwrap_or(serde_json::Value::Null)
    };
    let (path, body) = match action.as_str() {
        "pack" | "delivered" | "returned" => (format!("/api/v1/fulfilment/orders/{id}/{action}"), json!({})),
        "ship" => (
            format!("/api/v1/fulfilment/orders/{id}/ship"),
            json!({"courier": form.courier.trim(), "waybill": optional(&form.waybill)}),
        ),
        "delivery-failed" | "cancel" => (
            format!("/api/v1/fulfilment/orders/{id}/{action}"),
            json!({"reason": form.reason}),
        ),
        "bank-transfer" => (
            format!("/api/v1/payments/staff/orders/{id}/bank-transfer"),
            json!({"amount_minor": amount(), "slip_reference": form.reference.trim(), "note": optional(&form.note)}),
        ),
        "refund" => (
            format!("/api/v1/payments/staff/orders/{id}/refunds"),
            json!({"amount_minor": amount(), "reason": form.reason, "reference": optional(&form.reference)}),
        ),
        _ => return Err(Error::NotFound),
    };
    let reply = office.write(&staffer, Method::POST, &path, body).await?;
    if reply.status.is_success() {
        return Ok(office.redirect(&staffer.desk, &format!("/backoffice/orders/{id}?done={action}")));
    }
    refused(&office, &staffer, id, reply).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_box_tells_numbers_emails_nics_and_phones_apart() {
        assert_eq!(Lookup::of("#8f3a21c0"), Some(Lookup::Number("8F3A21C0".into())));
        assert_eq!(Lookup::of("0a3f21c9"), Some(Lookup::Number("0A3F21C9".into())));
        assert_eq!(Lookup::of("01234567"), Some(Lookup::Number("01234567".into())));
        assert_eq!(
            Lookup::of(" nimal@example.lk "),
            Some(Lookup::Email("nimal@example.lk".into()))
        );
        assert_eq!(Lookup::of("853670456V"), Some(Lookup::Nic("853670456V".into())));
        assert_eq!(Lookup::of("198512300456"), Some(Lookup::Nic("198512300456".into())));
        assert_eq!(Lookup::of("077 123 4567"), Some(Lookup::Phone("077 123 4567".into())));
        assert_eq!(Lookup::of("0771234567"), Some(Lookup::Phone("0771234567".into())));
        assert_eq!(Lookup::of("  "), None);
    }
}
