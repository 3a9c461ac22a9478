//! Payments' and fulfilment's HTTP handlers.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
};
use pola_core::{
    Error,
    auth::{Customer, Role, Staff},
    error::Problem,
    extract::{Json, Path, Query},
    pagination::{Page, PageParams},
};
use pola_orders::model::OrderStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    Payments,
    checkout::OrderPayment,
    fulfilment::{Exceptions, Fulfilled, Owed, ReasonRequest, RemittanceReport, ShipRequest},
    model::{
        BankTransferInstructions, CheckoutQuery, CheckoutSummary, ConfirmTransfer, HostedCheckout, PaymentQuery, RefundRequest,
        StaffPayment,
    },
    store::{self, StaffAction},
};

type AppState = State<Arc<Payments>>;

/// The roles that work orders and see how they are paid.
const ORDER_ROLES: [Role; 3] = [Role::Finance, Role::Support, Role::Fulfilment];

/// Largest notification body taken: PayHere's are well under 2 KiB.
const NOTIFY_LIMIT: usize = 8 * 1024;

/// Pay an unpaid order with PayHere: the form (and its `hash`) for the client to post to
/// PayHere's checkout. The amount is the order's total as placed.
#[utoipa::path(post, path = "/api/v1/payments/orders/{id}/payhere", tag = "payments",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Post `fields` to `action`", body = HostedCheckout),
        (status = 404, description = "No such order of yours (or no online payments here)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Paid, cancelled, or its time to pay is over", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn payhere_checkout(
    State(payments): AppState,
    customer: Customer,
    Path(id): Path<Uuid>,
) -> Result<Json<HostedCheckout>, Error> {
    Ok(Json(payments.payhere_checkout(customer.id, id).await?))
}

/// Pay on delivery: the order is confirmed at once (up to `payments.cod_max_minor`).
#[utoipa::path(post, path = "/api/v1/payments/orders/{id}/cod", tag = "payments",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Confirmed", body = OrderPayment),
        (status = 404, description = "No such order of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Paid, cancelled, or its time to pay is over", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Cash on delivery is not available for this order (`cod-not-available`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pay_on_delivery(
    State(payments): AppState,
    customer: Customer,
    Path(id): Path<Uuid>,
) -> Result<Json<OrderPayment>, Error> {
    Ok(Json(payments.pay_on_delivery(customer.id, id).await?))
}

/// Pay by bank transfer: the shop's account, the reference to write on the transfer, and the
/// deadline (`payments.bank_transfer_days`), after which the order cancels itself.
#[utoipa::path(post, path = "/api/v1/payments/orders/{id}/bank-transfer", tag = "payments",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Where to transfer", body = BankTransferInstructions),
        (status = 404, description = "No such order of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Paid, cancelled, or its time to pay is over", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pay_by_bank_transfer(
    State(payments): AppState,
    customer: Customer,
    Path(id): Path<Uuid>,
) -> Result<Json<BankTransferInstructions>, Error> {
    Ok(Json(payments.pay_by_bank_transfer(customer.id, id).await?))
}

/// Where the payment of one of your orders stands (the page a customer returns to from
/// PayHere polls this).
#[utoipa::path(get, path = "/api/v1/payments/orders/{id}", tag = "payments",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order's payment", body = OrderPayment),
        (status = 404, description = "No such order of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn order_payments(
    State(payments): AppState,
    customer: Customer,
    Path(id): Path<Uuid>,
) -> Result<Json<OrderPayment>, Error> {
    Ok(Json(payments.order_payment(id, Some(customer.id)).await?))
}

/// PayHere's payment notification (server to server, form-encoded). Taken only when its
/// `md5sig` verifies with our merchant secret, its `merchant_id` is ours, and its amount and
/// currency are the order's; repeats and late ones change nothing. Answers 200 to everything
/// PayHere signed (so it stops sending it), 400 to anything else.
#[utoipa::path(post, path = "/api/v1/payments/payhere/notify", tag = "payments",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "merchant_id, order_id, payment_id, payhere_amount, payhere_currency, status_code, md5sig, …"),
    responses(
        (status = 200, description = "Received"),
        (status = 400, description = "Not signed by PayHere for this merchant, or malformed", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not form-encoded", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn payhere_notify(State(payments): AppState, headers: HeaderMap, body: Bytes) -> Result<StatusCode, Error> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(Error::Status {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            detail: "Send the notification form-encoded.".into(),
        });
    }
    if body.len() > NOTIFY_LIMIT {
        return Err(Error::Status {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            detail: "The notification is too large.".into(),
        });
    }
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    payments.notify(fields).await?;
    Ok(StatusCode::OK)
}

/// An order's payments, refunds and the audit trail of staff actions on it (staff).
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffOrderPayment {
    pub payment: OrderPayment,
    pub audit: Vec<StaffAction>,
}

/// An order's payments, refunds, and every staff action on it (`finance`, `support` or
/// `fulfilment`).
#[utoipa::path(get, path = "/api/v1/payments/staff/orders/{id}", tags = ["payments", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "The order's payments", body = StaffOrderPayment),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_order_payments(
    State(payments): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<StaffOrderPayment>, Error> {
    staff.require_any(&ORDER_ROLES)?;
    Ok(Json(StaffOrderPayment {
        payment: payments.order_payment(id, None).await?,
        audit: store::staff_actions(payments.pool(), id).await?,
    }))
}

/// Refund part or all of what was paid (`finance`, with a reason). PayHere payments are
/// refunded through PayHere; cash and bank transfers by hand (give the transfer's `reference`).
#[utoipa::path(post, path = "/api/v1/payments/staff/orders/{id}/refunds", tags = ["payments", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = RefundRequest,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Refunded (or refunding); the order's payments", body = OrderPayment),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing paid, more than is left, or PayHere refused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad amount, reason or reference", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "PayHere did not answer: the refund is recorded and retried", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refund(
    State(payments): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<RefundRequest>,
) -> Result<Json<OrderPayment>, Error> {
    staff.require(Role::Finance)?;
    Ok(Json(payments.refund(&staff, id, request).await?))
}

/// A bank transfer arrived (`finance`): the order is paid. The amount must be its total.
#[utoipa::path(post, path = "/api/v1/payments/staff/orders/{id}/bank-transfer", tags = ["payments", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = ConfirmTransfer,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Paid", body = OrderPayment),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order no longer waits for payment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not the order's total, or a bad reference", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_bank_transfer(
    State(payments): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<ConfirmTransfer>,
) -> Result<Json<OrderPayment>, Error> {
    staff.require(Role::Finance)?;
    Ok(Json(payments.confirm_transfer(&staff, id, request).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CourierQuery {
    /// The courier whose report it is.
    pub courier: String,
}

/// Import a courier's cash-on-delivery remittance report (`finance`): CSV with a header and
/// `waybill` and `amount` columns. A bad row refuses the whole file, naming every bad row; the
/// same file twice is refused.
#[utoipa::path(post, path = "/api/v1/payments/staff/cod-remittances", tags = ["payments", "staff"],
    params(CourierQuery),
    request_body(content = String, content_type = "text/csv"),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Imported; what did not match", body = RemittanceReport),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Imported before", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad rows (each named) or an unknown courier", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_remittance(
    State(payments): AppState,
    staff: Staff,
    Query(query): Query<CourierQuery>,
    body: Bytes,
) -> Result<Json<RemittanceReport>, Error> {
    staff.require(Role::Finance)?;
    let csv = std::str::from_utf8(&body).map_err(|_| Error::BadRequest("The report must be UTF-8 text.".into()))?;
    Ok(Json(payments.import_remittance(&staff, &query.courier, csv).await?))
}

/// How orders are to be paid (PayHere, bank transfer, cash on delivery), newest order first
/// (`fulfilment`, `finance`, `support`: the back-office narrows its order list by method).
#[utoipa::path(get, path = "/api/v1/payments/staff/checkouts", tags = ["payments", "staff"],
    params(CheckoutQuery, PageParams),
    security(("staff" = [])),
    responses(
        (status = 200, description = "A page of orders' payment methods", body = Page<CheckoutSummary>),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_checkouts(
    State(payments): AppState,
    staff: Staff,
    Query(query): Query<CheckoutQuery>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<CheckoutSummary>>, Error> {
    staff.require_any(&ORDER_ROLES)?;
    let page = page.parse()?;
    let rows = store::search_checkouts(&payments.pool, &query, page).await?;
    Ok(Json(Page::from_rows(rows, page.limit, |c| c.order_id)))
}

/// Payments received and tried, newest first (`finance`): PayHere's, bank transfers, cash
/// collected on delivery.
#[utoipa::path(get, path = "/api/v1/payments/staff/payments", tags = ["payments", "staff"],
    params(PaymentQuery, PageParams),
    security(("staff" = [])),
    responses(
        (status = 200, description = "A page of payments", body = Page<StaffPayment>),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_payments(
    State(payments): AppState,
    staff: Staff,
    Query(query): Query<PaymentQuery>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<StaffPayment>>, Error> {
    staff.require(Role::Finance)?;
    let page = page.parse()?;
    let rows = store::search_payments(&payments.pool, &query, page).await?;
    let rows: Vec<StaffPayment> = rows.into_iter().map(StaffPayment::from).collect();
    Ok(Json(Page::from_rows(rows, page.limit, |p| p.payment.id)))
}

/// What each courier still owes for cash it collected on delivery (`finance`).
#[utoipa::path(get, path = "/api/v1/payments/staff/cod-owed", tags = ["payments", "staff"],
    security(("staff" = [])),
    responses(
        (status = 200, description = "Owed, per courier", body = Vec<Owed>),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cod_owed(State(payments): AppState, staff: Staff) -> Result<Json<Vec<Owed>>, Error> {
    staff.require(Role::Finance)?;
    Ok(Json(payments.cod_owed().await?))
}

/// What finance must look at: chargebacks, automatic refunds, refunds PayHere refused, and
/// signed notifications that did not match their order (`finance`).
#[utoipa::path(get, path = "/api/v1/payments/staff/exceptions", tags = ["payments", "staff"],
    security(("staff" = [])),
    responses(
        (status = 200, description = "Exceptions", body = Exceptions),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn exceptions(State(payments): AppState, staff: Staff) -> Result<Json<Exceptions>, Error> {
    staff.require(Role::Finance)?;
    Ok(Json(payments.exceptions().await?))
}

/// Packed (`fulfilment`): a paid, or confirmed cash-on-delivery, order.
#[utoipa::path(post, path = "/api/v1/fulfilment/orders/{id}/pack", tags = ["fulfilment", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Packed", body = Fulfilled),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not paid or confirmed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pack(State(payments): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<Fulfilled>, Error> {
    staff.require(Role::Fulfilment)?;
    Ok(Json(
        payments.staff_move(&staff, "pack", id, OrderStatus::Packed, None).await?,
    ))
}

/// Hand a packed order to a courier (`fulfilment`); again after a failed delivery.
#[utoipa::path(post, path = "/api/v1/fulfilment/orders/{id}/ship", tags = ["fulfilment", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = ShipRequest,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Shipped, with its waybill and tracking link", body = Fulfilled),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not packed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown courier, missing waybill, or the courier refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The courier did not answer", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ship(
    State(payments): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<ShipRequest>,
) -> Result<Json<Fulfilled>, Error> {
    staff.require(Role::Fulfilment)?;
    Ok(Json(payments.ship(&staff, id, request).await?))
}

/// Delivered (`fulfilment`; couriers with an API report it themselves). Cash collected on
/// delivery is then owed by the courier.
#[utoipa::path(post, path = "/api/v1/fulfilment/orders/{id}/delivered", tags = ["fulfilment", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Delivered", body = Fulfilled),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not shipped", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_delivered(State(payments): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<Fulfilled>, Error> {
    staff.require(Role::Fulfilment)?;
    Ok(Json(payments.mark_delivered(&staff, id).await?))
}

/// The courier could not deliver it (`fulfilment`, with a reason): it goes out again or comes
/// back.
#[utoipa::path(post, path = "/api/v1/fulfilment/orders/{id}/delivery-failed", tags = ["fulfilment", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = ReasonRequest,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Delivery failed", body = Fulfilled),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not shipped", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_delivery_failed(
    State(payments): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<ReasonRequest>,
) -> Result<Json<Fulfilled>, Error> {
    staff.require(Role::Fulfilment)?;
    let to = OrderStatus::DeliveryFailed;
    Ok(Json(
        payments
            .staff_move(&staff, "delivery_failed", id, to, Some(request.reason))
            .await?,
    ))
}

/// Back in the warehouse after a failed delivery (`fulfilment`): its stock is on sale again.
#[utoipa::path(post, path = "/api/v1/fulfilment/orders/{id}/returned", tags = ["fulfilment", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    security(("staff" = [])),
    responses(
        (status = 200, description = "Returned", body = Fulfilled),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a failed delivery", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_returned(State(payments): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<Fulfilled>, Error> {
    staff.require(Role::Fulfilment)?;
    Ok(Json(
        payments
            .staff_move(&staff, "returned", id, OrderStatus::Returned, None)
            .await?,
    ))
}

/// Cancel an unpaid or cash-on-delivery order before packing (`support`, with a reason); its
/// stock goes back on sale.
#[utoipa::path(post, path = "/api/v1/fulfilment/orders/{id}/cancel", tags = ["fulfilment", "staff"],
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = ReasonRequest,
    security(("staff" = [])),
    responses(
        (status = 200, description = "Cancelled", body = Fulfilled),
        (status = 403, description = "Missing role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Paid or packed: refund instead", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_cancel(
    State(payments): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<ReasonRequest>,
) -> Result<Json<Fulfilled>, Error> {
    staff.require(Role::Support)?;
    let to = OrderStatus::Cancelled;
    Ok(Json(
        payments.staff_move(&staff, "cancel", id, to, Some(request.reason)).await?,
    ))
}
