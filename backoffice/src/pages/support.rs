//! The support desk: tickets with their deadlines (overdue first to the eye), one ticket's
//! thread with internal notes, replies that the customer is told of, and its state.

use axum::{body::Bytes, extract::State, http::StatusCode, response::Response};
use http::Method;
use minijinja::context;
use pola_core::extract::{Path, Query};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Area, Done};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer, refusal},
    templates::value,
};

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct DeskFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    overdue: bool,
}

/// `GET /backoffice/support`: open tickets by default.
pub async fn list(State(office): Office, desk: Desk, Query(filter): Query<DeskFilter>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Support).await?;
    let state = filter.state.clone().unwrap_or_else(|| "new,open,waiting".into());
    let query = serde_urlencoded::to_string([
        ("state", state.as_str()),
        ("overdue", if filter.overdue { "true" } else { "false" }),
    ])
    .unwrap_or_default();
    let tickets: serde_json::Value = office
        .get(&staffer, &format!("/api/v1/support/staff/tickets?{query}"))
        .await?;
    let ctx = context! { tickets => value(&tickets), filter => value(&filter), state => state };
    office.page(&staffer.desk, Some(&staffer), "tickets.html", ctx)
}

async fn ticket_page(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    refused: Option<serde_json::Value>,
    done: Option<String>,
) -> Result<Response, Error> {
    let ticket: serde_json::Value = office.get(staffer, &format!("/api/v1/support/staff/tickets/{id}")).await?;
    let failed = refused.is_some();
    let mut response = office.page(
        &staffer.desk,
        Some(staffer),
        "ticket.html",
        context! { ticket => value(&ticket), refused => value(&refused), done => done },
    )?;
    if failed {
        *response.status_mut() = StatusCode::CONFLICT;
    }
    Ok(response)
}

/// `GET /backoffice/support/{id}`
pub async fn ticket(
    State(office): Office,
    desk: Desk,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Support).await?;
    ticket_page(&office, &staffer, id, None, done.done).await
}

#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    message: String,
    /// `note` for an internal note.
    #[serde(default)]
    kind: String,
}

/// `POST /backoffice/support/{id}/messages`: a reply (the customer is told) or a note.
pub async fn reply(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Support).await?;
    let form: ReplyForm = office.form(&staffer.desk, &body)?;
    let internal = form.kind == "note";
    let path = format!("/api/v1/support/staff/tickets/{id}/messages");
    let reply = office
        .write(
            &staffer,
            Method::POST,
            &path,
            json!({"message": form.message, "internal": internal}),
        )
        .await?;
    let done = if internal { "noted" } else { "replied" };
    after(&office, &staffer, id, reply, done).await
}

#[derive(Debug, Deserialize)]
pub struct StateForm {
    state: String,
}

/// `POST /backoffice/support/{id}/state`
pub async fn change_state(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Support).await?;
    let form: StateForm = office.form(&staffer.desk, &body)?;
    let path = format!("/api/v1/support/staff/tickets/{id}/state");
    let reply = office
        .write(&staffer, Method::POST, &path, json!({"state": form.state}))
        .await?;
    after(&office, &staffer, id, reply, "moved").await
}

async fn after(
    office: &Backoffice,
    staffer: &Staffer,
    id: Uuid,
    reply: pola_storefront::client::ApiReply,
    done: &str,
) -> Result<Response, Error> {
    if reply.status.is_success() {
        return Ok(office.redirect(&staffer.desk, &format!("/backoffice/support/{id}?done={done}")));
    }
    ticket_page(office, staffer, id, Some(refusal(reply)?), None).await
}
