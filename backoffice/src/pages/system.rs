//! The SREs' pages: requests, errors and latency per route with what is firing, a route over
//! time, the slowest traces as waterfalls, and a request's log lines — read from APM through the
//! ops API.

use axum::{extract::State, response::Response};
use minijinja::context;
use pola_core::extract::{Path, Query};
use serde::{Deserialize, Serialize};

use super::Area;
use crate::{
    Error,
    desk::{Desk, Office},
    templates::value,
};

/// The page's window and, for a route's page, the route; passed on to the API as they are.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Window {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hours: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    route: Option<String>,
}

impl Window {
    fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// The windows a page offers.
const HOURS: [i64; 5] = [1, 6, 24, 72, 168];

/// `GET /backoffice/system`: what is firing, every route's figures, the slowest traces.
pub async fn overview(State(office): Office, desk: Desk, Query(window): Query<Window>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::System).await?;
    let overview: serde_json::Value = office
        .get(&staffer, &format!("/api/v1/ops/overview?{}", window.query()))
        .await?;
    let ctx = context! {
        overview => value(&overview),
        hours => window.hours.unwrap_or(1),
        choices => HOURS,
    };
    office.page(&staffer.desk, Some(&staffer), "system.html", ctx)
}

/// `GET /backoffice/system/route?route=…`: one route's latency and error rate over time.
pub async fn route(State(office): Office, desk: Desk, Query(window): Query<Window>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::System).await?;
    let series: serde_json::Value = office
        .get(&staffer, &format!("/api/v1/ops/series?{}", window.query()))
        .await?;
    let ctx = context! {
        series => value(&series),
        hours => window.hours.unwrap_or(1),
        choices => HOURS,
    };
    office.page(&staffer.desk, Some(&staffer), "system_route.html", ctx)
}

/// `GET /backoffice/system/traces/{id}`: a trace's spans as a waterfall, with its log lines.
pub async fn trace(State(office): Office, desk: Desk, Path(id): Path<String>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::System).await?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::NotFound);
    }
    let trace: serde_json::Value = office.get(&staffer, &format!("/api/v1/ops/traces/{id}")).await?;
    office.page(
        &staffer.desk,
        Some(&staffer),
        "system_trace.html",
        context! { trace => value(&trace) },
    )
}

/// Whose log lines.
#[derive(Debug, Deserialize, Serialize)]
pub struct Lookup {
    #[serde(default)]
    request_id: String,
}

/// `GET /backoffice/system/logs?request_id=…`: a request's log lines from every process.
pub async fn logs(State(office): Office, desk: Desk, Query(lookup): Query<Lookup>) -> Result<Response, Error> {
    let staffer = office.enter(desk, Area::System).await?;
    let request_id = lookup.request_id.trim();
    let lines: serde_json::Value = if request_id.is_empty() {
        serde_json::Value::Null
    } else {
        let query = serde_urlencoded::to_string([("request_id", request_id)]).unwrap_or_default();
        office.get(&staffer, &format!("/api/v1/ops/logs?{query}")).await?
    };
    let ctx = context! { request_id => request_id, lines => value(&lines) };
    office.page(&staffer.desk, Some(&staffer), "system_logs.html", ctx)
}
