//! Reports: sales, products, stock, money, customers, carts and support, read on the standby
//! site (the reporting API), each with its filters, a chart where one says more than the table,
//! and a CSV download.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use http::Method;
use minijinja::context;
use pola_core::extract::{Path, Query};
use pola_storefront::client::ApiRequest;
use serde::{Deserialize, Serialize};

use super::Area;
use crate::{
    Error,
    desk::{Desk, Office},
    templates::value,
};

/// The filters of a report's page, passed on to the API as they are.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle_hours: Option<String>,
}

impl Filters {
    /// The filters without the empty ones (a form sends every field).
    fn query(&self) -> String {
        let keep = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let kept = Filters {
            from: keep(&self.from),
            to: keep(&self.to),
            by: keep(&self.by),
            limit: keep(&self.limit),
            threshold: keep(&self.threshold),
            idle_hours: keep(&self.idle_hours),
        };
        serde_urlencoded::to_string(&kept).unwrap_or_default()
    }
}

/// `GET /backoffice/reports`: the reports this staff member may run.
pub async fn list(State(office): Office, desk: Desk) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Reports).await?;
    let reports: serde_json::Value = office.get(&staffer, "/api/v1/reports").await?;
    office.page(
        &staffer.desk,
        Some(&staffer),
        "reports.html",
        context! { reports => value(&reports) },
    )
}

/// `GET /backoffice/reports/{name}`: one report with its filters, chart and table.
pub async fn report(
    State(office): Office,
    desk: Desk,
    Path(name): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Reports).await?;
    let query = filters.query();
    let reports: Vec<serde_json::Value> = office.get(&staffer, "/api/v1/reports").await?;
    let Some(about) = reports.into_iter().find(|r| r["name"] == name.as_str()) else {
        return Err(Error::Forbidden);
    };
    let report: serde_json::Value = office
        .get(&staffer, &format!("/api/v1/reports/{name}?chart=true&{query}"))
        .await?;
    let ctx = context! {
        about => value(&about),
        report => value(&report),
        filters => value(&filters),
        csv => format!("/backoffice/reports/{name}/csv?{query}"),
    };
    office.page(&staffer.desk, Some(&staffer), "report.html", ctx)
}

/// `GET /backoffice/reports/{name}/csv`: the same report as a CSV file.
pub async fn csv(
    State(office): Office,
    desk: Desk,
    Path(name): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::Reports).await?;
    let path = format!("/api/v1/reports/{name}?format=csv&{}", filters.query());
    let reply = office
        .send(&staffer.desk, ApiRequest::new(Method::GET, path), Some(staffer.token()))
        .await?;
    if !reply.status.is_success() {
        return Err(reply.into_problem().into());
    }
    // The name is a report's (the API found it), so it is safe in a header.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"pola-{name}.csv\"")).map_err(|_| Error::NotFound)?;
    let mut response = reply.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}
