//! Orders' HTTP handlers.

pub mod staff;

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use pola_core::{
    Error,
    auth::Customer,
    error::Problem,
    extract::{Json, Path, Query},
    pagination::{Page, PageParams},
};
use uuid::Uuid;

use crate::{
    Orders,
    model::{Order, OrderSummary, PlaceOrder, TaxInvoice, check_idempotency_key},
    store,
};

type AppState = State<Arc<Orders>>;

/// Check out the cart (`{}`) or buy lines now (`{"lines": […]}`).
///
/// `Idempotency-Key` is required: retrying with the same key returns the same order (with
/// `Idempotent-Replayed: true`) and sells nothing twice; the same key with another body is a 422.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    params(("Idempotency-Key" = String, Header, description = "A key you make per order, e.g. a UUID; 1-100 visible characters")),
    request_body = PlaceOrder,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Placed (or replayed)", body = Order),
        (status = 400, description = "Missing or malformed Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not enough stock; `shortages` lists what is short", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty cart, unknown variant, bad quantity, or a reused key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn place_order(
    State(orders): AppState,
    customer: Customer,
    headers: HeaderMap,
    Json(request): Json<PlaceOrder>,
) -> Result<Response, Error> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| Error::BadRequest("The Idempotency-Key header is required.".into()))?
        .to_str()
        .ok()
        .filter(|k| check_idempotency_key(k))
        .ok_or_else(|| Error::BadRequest("Idempotency-Key must be 1-100 visible ASCII characters.".into()))?;
    let placed = orders.place(customer.id, key, request).await?;
    let mut response = (StatusCode::CREATED, Json(placed.order)).into_response();
    if placed.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The signed-in customer's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders", body = Page<OrderSummary>),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orders(
    State(orders): AppState,
    customer: Customer,
    Query(params): Query<PageParams>,
) -> Result<Json<Page<OrderSummary>>, Error> {
    let page = params.parse()?;
    let rows = store::list_orders(&orders.pool, customer.id, page.after, page.limit + 1).await?;
    Ok(Json(Page::from_rows(rows, page.limit, |o| o.id)))
}

/// One of the signed-in customer's orders. Another customer's order is not found.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_order(State(orders): AppState, customer: Customer, Path(id): Path<Uuid>) -> Result<Json<Order>, Error> {
    Ok(Json(orders.customer_order(customer.id, id).await?))
}

/// Cancel an order that is not paid yet (or, paid on delivery, not yet packed); its stock goes
/// back on sale. Repeating it is harmless.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = Order),
        (status = 404, description = "No such order of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already paid or packed (cancelling a cancelled order answers 200)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_order(State(orders): AppState, customer: Customer, Path(id): Path<Uuid>) -> Result<Json<Order>, Error> {
    Ok(Json(orders.cancel(id, customer.id).await?))
}

/// The tax invoice of an order a business placed (`business` with its VAT number at checkout):
/// both parties, each supply without VAT, the VAT at the order's rate, and the total.
#[utoipa::path(get, path = "/api/v1/orders/{id}/tax-invoice", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tax invoice", body = TaxInvoice),
        (status = 404, description = "No such order of yours, or not placed by a business", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order was cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn tax_invoice(State(orders): AppState, customer: Customer, Path(id): Path<Uuid>) -> Result<Json<TaxInvoice>, Error> {
    Ok(Json(orders.tax_invoice(customer.id, id).await?))
}

/// Internal API: what other Pola processes call through `client::HttpOrders`. Not in the public
/// OpenAPI document; admitted only with the service token.
pub mod internal {
    use std::sync::Arc;

    use axum::extract::State;
    use pola_core::{Error, client::InternalCall, extract::Json, personal::PersonalData};

    use crate::{
        Orders,
        client::{
            BasketQuery, BriefQuery, FailedDeliveriesQuery, MoveOrder, OrderBriefs, OrderQuery, OrdersClient, OwnedOrder,
            PersonalDataQuery, PurchasesQuery, UnpaidQuery,
        },
        model::{Basket, Moved, OrderBrief},
    };

    type AppState = State<Arc<Orders>>;

    /// A customer's orders for their data export, addresses opened.
    pub async fn personal_data(
        State(orders): AppState,
        _: InternalCall,
        Json(query): Json<PersonalDataQuery>,
    ) -> Result<Json<serde_json::Value>, Error> {
        Ok(Json(orders.export(query.customer).await?))
    }

    pub async fn order(
        State(orders): AppState,
        _: InternalCall,
        Json(query): Json<OrderQuery>,
    ) -> Result<Json<Option<OwnedOrder>>, Error> {
        Ok(Json(orders.order(query.id, query.viewer).await?))
    }

    pub async fn brief(
        State(orders): AppState,
        _: InternalCall,
        Json(query): Json<BriefQuery>,
    ) -> Result<Json<Option<OrderBrief>>, Error> {
        Ok(Json(orders.brief(query.id).await?))
    }

    pub async fn move_order(State(orders): AppState, _: InternalCall, Json(m): Json<MoveOrder>) -> Result<Json<Moved>, Error> {
        Ok(Json(orders.advance(m.id, m.customer, m.to, m.actor, m.shipment).await?))
    }

    pub async fn unpaid(
        State(orders): AppState,
        _: InternalCall,
        Json(q): Json<UnpaidQuery>,
    ) -> Result<Json<Vec<uuid::Uuid>>, Error> {
        Ok(Json(orders.unpaid_before(q.before, q.after, q.limit).await?))
    }

    pub async fn failed_deliveries(
        State(orders): AppState,
        _: InternalCall,
        Json(q): Json<FailedDeliveriesQuery>,
    ) -> Result<Json<i64>, Error> {
        Ok(Json(orders.failed_deliveries(q.customer).await?))
    }

    pub async fn purchases(
        State(orders): AppState,
        _: InternalCall,
        Json(q): Json<PurchasesQuery>,
    ) -> Result<Json<Vec<Basket>>, Error> {
        Ok(Json(orders.purchases(q.after, q.limit.min(5_000)).await?))
    }

    pub async fn count_purchases(State(orders): AppState, _: InternalCall) -> Result<Json<u64>, Error> {
        Ok(Json(orders.count_purchases().await?))
    }

    pub async fn basket(
        State(orders): AppState,
        _: InternalCall,
        Json(q): Json<BasketQuery>,
    ) -> Result<Json<Option<Basket>>, Error> {
        Ok(Json(OrdersClient::basket(&orders, q.id).await?))
    }
}
