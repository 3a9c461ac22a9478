//! Staff accounts and the audit trail (admin).

use axum::{body::Bytes, extract::State, http::StatusCode, response::Response};
use http::Method;
use minijinja::{Value, context};
use pola_core::{
    audit::Entry,
    auth::Role,
    extract::{Path, Query},
};
use pola_identity::model::staff::StaffAccount;
use pola_storefront::client::ApiReply;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Area, colombo_day_start};
use crate::{
    Backoffice, Error,
    desk::{Desk, Office, Staffer, refusal},
};

/// The roles as the forms offer them.
fn role_names() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn list_page(
    office: &Backoffice,
    staffer: &Staffer,
    done: Option<String>,
    refused: Option<Value>,
) -> Result<Response, Error> {
    let accounts: Vec<StaffAccount> = office.get(staffer, "/api/v1/identity/staff/accounts").await?;
    let page = context! {
        accounts => crate::templates::value(&accounts),
        roles => role_names(),
        done => done,
        refused => refused,
        me_id => staffer.account.id.to_string(),
    };
    office.page(&staffer.desk, Some(staffer), "staff.html", page)
}

/// `GET /backoffice/staff`
pub async fn list(State(office): Office, desk: Desk, Query(done): Query<Done>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Staff).await?;
    list_page(&office, &staffer, done.done, None).await
}

/// The page again after the API refused a change, with its reasons (4xx), or the failure.
async fn refused(office: &Backoffice, staffer: &Staffer, reply: ApiReply) -> Result<Response, Error> {
    let status = reply.status;
    let mut response = list_page(office, staffer, None, Some(crate::templates::value(&refusal(reply)?))).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// A form's ticked roles: `role=admin&role=catalog`.
fn ticked_roles(body: &[u8]) -> Vec<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v)
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct NewStaffForm {
    email: String,
    name: String,
    password: String,
}

/// `POST /backoffice/staff`: a new account, which enrols its app at its first sign-in.
pub async fn create(State(office): Office, desk: Desk, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Staff).await?;
    let form: NewStaffForm = office.form(&staffer.desk, &body)?;
    let new = json!({"email": form.email, "name": form.name, "password": form.password, "roles": ticked_roles(&body)});
    let reply = office
        .write(&staffer, Method::POST, "/api/v1/identity/staff/accounts", new)
        .await?;
    if reply.status != StatusCode::CREATED {
        return refused(&office, &staffer, reply).await;
    }
    Ok(office.redirect(&staffer.desk, "/backoffice/staff?done=created"))
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    /// `enable`, `disable` or `roles`.
    action: String,
}

/// `POST /backoffice/staff/{id}`: new roles, or the account disabled or enabled again.
pub async fn update(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Staff).await?;
    let form: UpdateForm = office.form(&staffer.desk, &body)?;
    let change = match form.action.as_str() {
        "roles" => json!({"roles": ticked_roles(&body)}),
        "disable" => json!({"disabled": true}),
        "enable" => json!({"disabled": false}),
        _ => return Err(Error::BadForm),
    };
    let path = format!("/api/v1/identity/staff/accounts/{id}");
    let reply = office.write(&staffer, Method::PATCH, &path, change).await?;
    if reply.status != StatusCode::OK {
        return refused(&office, &staffer, reply).await;
    }
    Ok(office.redirect(&staffer.desk, "/backoffice/staff?done=updated"))
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {}

/// `POST /backoffice/staff/{id}/reset-two-factor`: a lost phone; they enrol again.
pub async fn reset_two_factor(State(office): Office, desk: Desk, Path(id): Path<Uuid>, body: Bytes) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Staff).await?;
    let CsrfOnly {} = office.form(&staffer.desk, &body)?;
    let path = format!("/api/v1/identity/staff/accounts/{id}/reset-two-factor");
    let reply = office.write(&staffer, Method::POST, &path, json!({})).await?;
    if reply.status != StatusCode::OK {
        return refused(&office, &staffer, reply).await;
    }
    Ok(office.redirect(&staffer.desk, "/backoffice/staff?done=reset"))
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct AuditFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    staff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    /// A Colombo date, `2026-12-02`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
}

impl AuditFilter {
    /// The API's query: empty fields left out, Colombo dates as UTC times.
    fn api_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("limit", "200".into())];
        for (name, value) in [
            ("staff", &self.staff),
            ("entity", &self.entity),
            ("entity_id", &self.entity_id),
            ("action", &self.action),
        ] {
            if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                pairs.push((name, value.to_owned()));
            }
        }
        if let Some(since) = self.from.as_deref().and_then(|d| colombo_day_start(d, 0)) {
            pairs.push(("since", since));
        }
        if let Some(until) = self.to.as_deref().and_then(|d| colombo_day_start(d, 1)) {
            pairs.push(("until", until));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// `GET /backoffice/audit`: every staff write, newest first, filtered.
pub async fn audit(State(office): Office, desk: Desk, Query(filter): Query<AuditFilter>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Audit).await?;
    let rows: Vec<Entry> = office.get(&staffer, &format!("/api/v1/audit?{}", filter.api_query())).await?;
    let accounts: Vec<StaffAccount> = office.get(&staffer, "/api/v1/identity/staff/accounts").await?;
    let names: std::collections::HashMap<String, String> = accounts
        .into_iter()
        .map(|a| (a.id.to_string(), format!("{} ({})", a.name, a.email)))
        .collect();
    let page = context! {
        rows => crate::templates::value(&rows),
        names => crate::templates::value(&names),
        filter => crate::templates::value(&filter),
    };
    office.page(&staffer.desk, Some(&staffer), "audit.html", page)
}
