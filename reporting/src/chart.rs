//! SVG charts of a report's main figure, drawn with `plotters`: a line over time, bars for
//! categories.

use plotters::prelude::*;

use crate::{
    reports::{Report, Request},
    table::{Kind, Table},
};

/// How a report's figure is best drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Line,
    Bars,
}

/// Which column a report charts against which, and how; None where a table says it all.
pub fn spec(request: &Request) -> Option<(&'static str, Shape)> {
    match request.report {
        Report::Sales if request.by.is_time() => Some(("revenue_minor", Shape::Line)),
        Report::Sales => Some(("revenue_minor", Shape::Bars)),
        Report::TopProducts => Some(("revenue_minor", Shape::Bars)),
        Report::StockValue => Some(("value_minor", Shape::Bars)),
        Report::CodOwed => Some(("owed_minor", Shape::Bars)),
        Report::Customers => Some(("returning_percent", Shape::Line)),
        Report::AbandonedCarts => Some(("carts", Shape::Line)),
        Report::Refunds => Some(("amount_minor", Shape::Bars)),
        Report::Promotions => Some(("cost_minor", Shape::Bars)),
        Report::LowStock | Report::Payments | Report::Cohorts | Report::Support => None,
    }
}

/// The most bars a chart draws (the largest, in the table's order).
const MAX_BARS: usize = 15;

/// `table`'s `value` column against its first column, as an SVG document.
pub fn svg(table: &Table, value: &str, shape: Shape) -> Option<String> {
    let at = table.position(value)?;
    let column = &table.columns[at];
    let scale = if column.kind == Kind::Money { 100.0 } else { 1.0 };
    let mut points: Vec<(String, f64)> = table
        .rows
        .iter()
        .map(|row| (row[0].display(table.columns[0].kind), row[at].number() / scale))
        .collect();
    if shape == Shape::Bars {
        points.truncate(MAX_BARS);
    }
    if points.is_empty() {
        return None;
    }
    let top = points.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(1.0) * 1.1;
    let heading = column.label;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 380)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let labels: Vec<String> = points.iter().map(|(l, _)| l.clone()).collect();
        let n = points.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(heading, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(if shape == Shape::Bars { 110 } else { 40 })
            .y_label_area_size(90)
            .build_cartesian_2d((0..n).into_segmented(), 0.0..top)
            .ok()?;
        let every = n.div_ceil(12).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) if i % every == 0 => {
                    labels.get(*i).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .x_label_style(if shape == Shape::Bars {
                ("sans-serif", 12).into_font().transform(FontTransform::Rotate90)
            } else {
                ("sans-serif", 12).into_font()
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .ok()?;
        let colour = RGBColor(0x1f, 0x5f, 0x8b);
        match shape {
            Shape::Bars => {
                chart
                    .draw_series(
                        Histogram::vertical(&chart)
                            .style(colour.filled())
                            .margin(6)
                            .data(points.iter().enumerate().map(|(i, (_, v))| (i, *v))),
                    )
                    .ok()?;
            }
            Shape::Line => {
                chart
                    .draw_series(LineSeries::new(
                        points.iter().enumerate().map(|(i, (_, v))| (SegmentValue::CenterOf(i), *v)),
                        colour.stroke_width(2),
                    ))
                    .ok()?;
            }
        }
        root.present().ok()?;
    }
    Some(out)
}
