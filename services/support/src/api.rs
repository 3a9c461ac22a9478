//! Support's HTTP handlers: customers' tickets, and the desk's (staff with `support`).

use std::sync::Arc;

use axum::{extract::State as AxumState, http::StatusCode};

use pola_core::{
    Error,
    auth::{Customer, Staff},
    error::Problem,
    extract::{Json, Path, Query},
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    Support,
    model::{Category, DeskAtAGlance, NewTicket, Reply, State, StateChange, TicketSummary, TicketView},
};

type AppState = AxumState<Arc<Support>>;

/// Open a ticket (about one of your orders, for delivery, item, refund and cash questions).
#[utoipa::path(post, path = "/api/v1/support/tickets", tag = "support",
    request_body = NewTicket,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened", body = TicketView),
        (status = 422, description = "Missing text, or not your order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn open_ticket(
    AxumState(support): AppState,
    customer: Customer,
    Json(new): Json<NewTicket>,
) -> Result<(StatusCode, Json<TicketView>), Error> {
    Ok((StatusCode::CREATED, Json(support.open(customer.id, new).await?)))
}

/// Your tickets, newest first.
#[utoipa::path(get, path = "/api/v1/support/tickets", tag = "support",
    security(("bearer" = [])),
    responses((status = 200, description = "Your tickets", body = Vec<TicketSummary>)))]
pub async fn my_tickets(AxumState(support): AppState, customer: Customer) -> Result<Json<Vec<TicketSummary>>, Error> {
    Ok(Json(support.customer_tickets(customer.id).await?))
}

/// One of your tickets with its thread.
#[utoipa::path(get, path = "/api/v1/support/tickets/{id}", tag = "support",
    params(("id" = Uuid, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "No such ticket of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn my_ticket(
    AxumState(support): AppState,
    customer: Customer,
    Path(id): Path<Uuid>,
) -> Result<Json<TicketView>, Error> {
    Ok(Json(support.customer_ticket(customer.id, id).await?))
}

/// Write on your ticket: a waiting ticket is answered, a resolved one reopens.
#[utoipa::path(post, path = "/api/v1/support/tickets/{id}/messages", tag = "support",
    params(("id" = Uuid, Path, description = "Ticket id")),
    request_body = Reply,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "No such ticket of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ticket is closed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn customer_reply(
    AxumState(support): AppState,
    customer: Customer,
    Path(id): Path<Uuid>,
    Json(reply): Json<Reply>,
) -> Result<Json<TicketView>, Error> {
    Ok(Json(support.customer_reply(customer.id, id, &reply.message).await?))
}

/// Which tickets the desk lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeskQuery {
    /// States, comma-separated (`new,open`); every state when absent.
    pub state: Option<String>,
    pub category: Option<Category>,
    /// Only tickets past a deadline.
    #[serde(default)]
    pub overdue: bool,
}

/// The desk's tickets, newest first, with their deadlines (`support`).
#[utoipa::path(get, path = "/api/v1/support/staff/tickets", tags = ["support", "staff"],
    params(DeskQuery),
    security(("staff" = [])),
    responses((status = 200, description = "Tickets", body = Vec<TicketSummary>)))]
pub async fn staff_tickets(
    AxumState(support): AppState,
    staff: Staff,
    Query(query): Query<DeskQuery>,
) -> Result<Json<Vec<TicketSummary>>, Error> {
    let states = query
        .state
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| State::parse(s.trim()).ok_or_else(|| Error::field("state", format!("`{s}` is not a ticket state"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(
        support.staff_tickets(&staff, &states, query.category, query.overdue).await?,
    ))
}

/// A ticket with its thread and internal notes (`support`).
#[utoipa::path(get, path = "/api/v1/support/staff/tickets/{id}", tags = ["support", "staff"],
    params(("id" = Uuid, Path, description = "Ticket id")),
    security(("staff" = [])),
    responses((status = 200, description = "The ticket", body = TicketView)))]
pub async fn staff_ticket(AxumState(support): AppState, staff: Staff, Path(id): Path<Uuid>) -> Result<Json<TicketView>, Error> {
    Ok(Json(support.staff_ticket(&staff, id).await?))
}

/// Answer the customer (they are told by email or SMS), or add an internal note (`support`).
#[utoipa::path(post, path = "/api/v1/support/staff/tickets/{id}/messages", tags = ["support", "staff"],
    params(("id" = Uuid, Path, description = "Ticket id")),
    request_body = Reply,
    security(("staff" = [])),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 409, description = "The ticket is closed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn staff_reply(
    AxumState(support): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(reply): Json<Reply>,
) -> Result<Json<TicketView>, Error> {
    Ok(Json(support.staff_reply(&staff, id, &reply.message, reply.internal).await?))
}

/// Move a ticket: open, waiting on the customer (the clock stops), resolved, closed (`support`).
#[utoipa::path(post, path = "/api/v1/support/staff/tickets/{id}/state", tags = ["support", "staff"],
    params(("id" = Uuid, Path, description = "Ticket id")),
    request_body = StateChange,
    security(("staff" = [])),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 409, description = "Not a move its state allows", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_state(
    AxumState(support): AppState,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(change): Json<StateChange>,
) -> Result<Json<TicketView>, Error> {
    Ok(Json(support.change_state(&staff, id, change.state).await?))
}

/// Open and overdue tickets, for the dashboard (any staff role).
#[utoipa::path(get, path = "/api/v1/support/staff/at-a-glance", tags = ["support", "staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Counts", body = DeskAtAGlance)))]
pub async fn at_a_glance(AxumState(support): AppState, staff: Staff) -> Result<Json<DeskAtAGlance>, Error> {
    Ok(Json(support.at_a_glance(&staff).await?))
}
