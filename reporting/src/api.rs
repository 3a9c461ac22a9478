//! The reports over HTTP for staff (the back-office's report pages call it): which reports the
//! caller may run, and one report as JSON (with its SVG chart) or CSV.

use std::sync::Arc;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use chrono::{Duration, NaiveDate, Utc};
use pola_core::{
    auth::Staff,
    error::Error as ApiError,
    extract::{Json, Path, Query},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    chart,
    reports::{Report, Request, SalesBy},
    source::{Error, Reporting},
    table::Period,
};

type AppState = State<Arc<Reporting>>;

pub fn router(reporting: Arc<Reporting>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_reports))
        .routes(routes!(run_report))
        .with_state(reporting)
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NoStandby { .. } => ApiError::Unavailable(e.to_string()),
            Error::TimedOut(_) => ApiError::Unprocessable {
                code: "report-too-slow",
                detail: e.to_string(),
            },
            Error::TooManyRows(_) => ApiError::Unprocessable {
                code: "report-too-large",
                detail: e.to_string(),
            },
            Error::BadRequest(detail) => ApiError::BadRequest(detail),
            Error::Database(_) | Error::Decode(_) => {
                tracing::error!(error = %e, "a report failed");
                ApiError::Unavailable("the report could not be read; try again, or tell the engineers".into())
            }
        }
    }
}

/// A report the caller may run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportInfo {
    pub name: &'static str,
    pub title: &'static str,
    /// Whether it covers dates (`from`, `to`); others are of the present moment.
    pub has_period: bool,
}

/// The reports the staff member's roles open.
#[utoipa::path(get, path = "/api/v1/reports", tags = ["staff"],
    security(("staff" = [])),
    responses((status = 200, description = "Reports this staff member may run", body = Vec<ReportInfo>)))]
pub async fn list_reports(staff: Staff) -> Json<Vec<ReportInfo>> {
    Json(
        Report::ALL
            .into_iter()
            .filter(|r| staff.require_any(r.roles()).is_ok())
            .map(|r| ReportInfo {
                name: r.name(),
                title: r.title(),
                has_period: r.has_period(),
            })
            .collect(),
    )
}

/// A report's filters; every one has a default.
#[derive(Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day, in Colombo (`2026-04-01`). Default 30 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day, in Colombo, included. Default today.
    pub to: Option<NaiveDate>,
    /// Sales: `day`, `week`, `month`, `district`, `category` or `method`. Default `day`.
    pub by: Option<String>,
    /// Top products: how many (1–500). Default 20.
    pub limit: Option<u32>,
    /// Low stock: at most this many units left to sell. Default 5.
    pub threshold: Option<i64>,
    /// Abandoned carts: untouched for at least this many hours. Default 24.
    pub idle_hours: Option<u32>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// JSON: add `chart_svg`, the report's chart as an SVG document (null where a table says
    /// it best).
    pub chart: Option<bool>,
}

impl ReportQuery {
    /// The request these filters make for `report`.
    pub fn request(&self, report: Report) -> Result<Request, ApiError> {
        let to = self
            .to
            .unwrap_or_else(|| Utc::now().with_timezone(&pola_core::clock::colombo()).date_naive());
        let from = self.from.unwrap_or(to - Duration::days(30));
        let defaults = Request::new(report, Period { from, to });
        Ok(Request {
            by: match &self.by {
                Some(by) => by.parse::<SalesBy>().map_err(ApiError::BadRequest)?,
                None => defaults.by,
            },
            limit: self.limit.unwrap_or(defaults.limit),
            threshold: self.threshold.unwrap_or(defaults.threshold),
            idle_hours: self.idle_hours.unwrap_or(defaults.idle_hours),
            ..defaults
        })
    }
}

/// The report `name` if the staff member's roles open it.
fn allowed(staff: &Staff, name: &str) -> Result<Report, ApiError> {
    let report = name.parse::<Report>().map_err(ApiError::NotFound)?;
    staff.require_any(report.roles())?;
    Ok(report)
}

/// One report, read on the standby site: JSON (rows by column key, money in cents, how fresh
/// the data is, and its chart with `chart=true`) or CSV (`format=csv`, money in rupees).
#[utoipa::path(get, path = "/api/v1/reports/{name}", tags = ["staff"],
    security(("staff" = [])),
    params(("name" = String, Path, description = "sales, top-products, low-stock, …"), ReportQuery),
    responses((status = 200, description = "The report", body = serde_json::Value),
              (status = 422, description = "Too slow or too large: narrow the dates"),
              (status = 503, description = "No replica to read")))]
pub async fn run_report(
    State(reporting): AppState,
    staff: Staff,
    Path(name): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = allowed(&staff, &name)?;
    let request = query.request(report)?;
    let table = crate::run(&reporting, &request).await?;
    Ok(match query.format.as_deref() {
        Some("csv") => {
            let csv = table.csv().map_err(|e| ApiError::Unavailable(format!("writing CSV: {e}")))?;
            let file = format!(
                "attachment; filename=\"pola-{}-{}-{}.csv\"",
                report.name(),
                request.period.from,
                request.period.to
            );
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, file),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                csv,
            )
                .into_response()
        }
        None | Some("json") => {
            let mut json = table.json();
            if query.chart == Some(true) {
                let svg = chart::spec(&request).and_then(|(value, shape)| chart::svg(&table, value, shape));
                json["chart_svg"] = svg.into();
            }
            Json(json).into_response()
        }
        Some(other) => return Err(ApiError::BadRequest(format!("`{other}`: reports come as json or csv"))),
    })
}
