//! Orders for staff (`fulfilment`, `finance`, `support`), through the staff listener.

use std::sync::Arc;

use axum::extract::State;
use pola_core::{
    Error,
    auth::Staff,
    error::Problem,
    extract::{Json, Path, Query},
    pagination::{Page, PageParams},
};
use uuid::Uuid;

use crate::{
    Orders,
    model::staff::{OrdersAtAGlance, RevealAddress, RevealedAddress, StaffOrder, StaffOrderQuery, StaffOrderSummary},
};

type AppState = State<Arc<Orders>>;

/// Find orders by number, customer, state, district and date, newest first.
#[utoipa::path(get, path = "/api/v1/orders/staff/orders", tags = ["orders", "staff"],
    params(StaffOrderQuery, PageParams),
    security(("staff" = [])),
    responses(
        (status = 200, description = "A page of orders", body = Page<StaffOrderSummary>),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad number, customer id, status, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn search(
    State(orders): AppState,
    staff: Staff,
    Query(query): Query<StaffOrderQuery>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<StaffOrderSummary>>, Error> {
    Ok(Json(orders.staff_search(&staff, &query, page.parse()?).await?))
}

/// One order with its history; the delivery address masked.
#[utoipa::path(get, path = "/api/v1/orders/staff/orders/{id}", tags = ["orders", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "The order", body = StaffOrder),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn order(State(orders): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<StaffOrder>, Error> {
    Ok(Json(orders.staff_order(&staff, id).await?))
}

/// The full delivery address, for packing or a courier's call (`fulfilment`, `support`); the
/// reason goes into the audit trail.
#[utoipa::path(post, path = "/api/v1/orders/staff/orders/{id}/address", tags = ["orders", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = RevealAddress,
    security(("staff" = [])),
    responses(
        (status = 200, description = "The address", body = RevealedAddress),
        (status = 410, description = "The customer's data was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason given", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reveal_address(
    State(orders): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<RevealAddress>,
) -> Result<Json<RevealedAddress>, Error> {
    Ok(Json(orders.reveal_address(&staff, id, &request.reason).await?))
}

/// Today's orders and takings, and what waits for staff (any role but admin-only accounts see it).
#[utoipa::path(get, path = "/api/v1/orders/staff/at-a-glance", tags = ["orders", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Counts", body = OrdersAtAGlance)))]
pub async fn at_a_glance(State(orders): AppState, staff: Staff) -> Result<Json<OrdersAtAGlance>, Error> {
    Ok(Json(orders.at_a_glance(&staff).await?))
}
