//! The managers' morning summary: yesterday's headline figures from the reports (sales, money,
//! refunds, promotions, carts, support) and the state of stock and cash-on-delivery, read on the
//! standby site like any report, ready for the notification worker to email.

use chrono::NaiveDate;
use serde::Serialize;

use crate::{
    reports::{Report, Request, run},
    source::{Error, Reporting},
    table::{Kind, Period},
};

/// The reports in the summary, in the order the email lists them.
pub const SECTIONS: [Report; 8] = [
    Report::Sales,
    Report::Payments,
    Report::Refunds,
    Report::Promotions,
    Report::AbandonedCarts,
    Report::Support,
    Report::LowStock,
    Report::CodOwed,
];

/// One day's summary. Reports show ids and amounts only, so this holds no personal data.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The day it covers, in Colombo.
    pub date: NaiveDate,
    /// How fresh the first report's data was (`data as of … (replica dr, lag 0 s)`).
    pub freshness: Option<String>,
    pub sections: Vec<Section>,
}

/// One report's figures, or why it could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub report: &'static str,
    pub title: String,
    pub figures: Vec<Line>,
    pub failed: Option<String>,
}

/// A figure as the email writes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub label: &'static str,
    /// `Rs. 12,500.00`, `42`, `3.5`.
    pub value: String,
}

/// The summary of `date`. A report that fails is named with its reason and the others go on;
/// when no report can be read (no standby to read), the whole summary fails, to be tried again.
pub async fn summary(reporting: &Reporting, date: NaiveDate) -> Result<Summary, Error> {
    let mut sections = Vec::with_capacity(SECTIONS.len());
    let mut freshness = None;
    let mut first_error = None;
    for report in SECTIONS {
        let request = Request::new(report, Period { from: date, to: date });
        match run(reporting, &request).await {
            Ok(table) => {
                freshness.get_or_insert_with(|| table.freshness.to_string());
                let figures = table
                    .summary
                    .iter()
                    .map(|f| Line {
                        label: f.label,
                        value: match f.kind {
                            Kind::Money => format!("Rs. {}", f.value.display(f.kind)),
                            kind => f.value.display(kind),
                        },
                    })
                    .collect();
                sections.push(Section {
                    report: report.name(),
                    title: table.title,
                    figures,
                    failed: None,
                });
            }
            Err(e) => {
                tracing::warn!(report = report.name(), error = %e, "a report of the daily summary failed");
                sections.push(Section {
                    report: report.name(),
                    title: report.title().to_owned(),
                    figures: vec![],
                    failed: Some(e.to_string()),
                });
                first_error.get_or_insert(e);
            }
        }
    }
    match (freshness, first_error) {
        (None, Some(e)) => Err(e),
        (freshness, _) => Ok(Summary {
            date,
            freshness,
            sections,
        }),
    }
}
