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

/// A whole number grouped the Sri Lankan way: 2,500,000.
fn grouped_whole(x: f64) -> String {
    let whole = pola_core::money::grouped((x.round() as i64).saturating_mul(100));
    whole.trim_end_matches(".00").to_owned()
}

/// A category's name short enough for the side of a chart.
fn shorten(label: &str) -> String {
    match label.char_indices().nth(30) {
        Some((at, _)) => format!("{}…", &label[..at]),
        None => label.to_owned(),
    }
}

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
    let labels: Vec<String> = points.iter().map(|(l, _)| shorten(l)).collect();
    let n = points.len();
    let colour = RGBColor(0x1f, 0x5f, 0x8b);
    let grid = RGBColor(0xf2, 0xf4, 0xf7);
    let label = |i: &SegmentValue<usize>| match i {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    let every = n.div_ceil(12).max(1);
    match shape {
        // Categories down the side, so that their names read across.
        Shape::Bars => {
            let height = u32::try_from(80 + 28 * n).unwrap_or(500);
            let root = SVGBackend::with_string(&mut out, (900, height)).into_drawing_area();
            root.fill(&WHITE).ok()?;
            let mut chart = ChartBuilder::on(&root)
                .caption(heading, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(220)
                .build_cartesian_2d(0.0..top, (0..n - 1).into_segmented())
                .ok()?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(grid)
                .y_labels(n)
                // The largest first, at the top: the axis counts upwards.
                .y_label_formatter(&|y| match y {
                    SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(n - 1 - i).cloned().unwrap_or_default(),
                    SegmentValue::Last => String::new(),
                })
                .x_label_formatter(&|x| grouped_whole(*x))
                .label_style(("sans-serif", 13))
                .draw()
                .ok()?;
            chart
                .draw_series(
                    Histogram::horizontal(&chart)
                        .style(colour.filled())
                        .margin(4)
                        .data(points.iter().enumerate().map(|(i, (_, v))| (n - 1 - i, *v))),
                )
                .ok()?;
            root.present().ok()?;
        }
        Shape::Line => {
            let root = SVGBackend::with_string(&mut out, (900, 380)).into_drawing_area();
            root.fill(&WHITE).ok()?;
            let mut chart = ChartBuilder::on(&root)
                .caption(heading, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(90)
                .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)
                .ok()?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(grid)
                .x_labels(n.min(12))
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) | SegmentValue::Exact(i) if i % every == 0 => label(x),
                    _ => String::new(),
                })
                .y_label_formatter(&|y| grouped_whole(*y))
                .label_style(("sans-serif", 12))
                .draw()
                .ok()?;
            chart
                .draw_series(LineSeries::new(
                    points.iter().enumerate().map(|(i, (_, v))| (SegmentValue::CenterOf(i), *v)),
                    colour.stroke_width(2),
                ))
                .ok()?;
            root.present().ok()?;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        source::{Freshness, Role},
        table::{Cell, column},
    };

    fn table(rows: &[(&str, i64)]) -> Table {
        Table {
            report: "sales",
            title: "Sales by month".into(),
            period: None,
            freshness: Freshness {
                site: "dr".into(),
                role: Role::Replica,
                lag_secs: Some(0),
                as_of: None,
            },
            columns: vec![
                column("month", "Month", Kind::Text),
                column("revenue_minor", "Revenue (Rs.)", Kind::Money),
            ],
            rows: rows.iter().map(|(l, v)| vec![Cell::from(*l), Cell::Int(*v)]).collect(),
            summary: vec![],
        }
    }

    #[test]
    fn a_line_names_its_periods_and_a_bar_chart_its_categories_escaped() {
        let months = table(&[("2026-03", 10_000_000), ("2026-04", 25_000_000), ("2026-05", 9_000_000)]);
        let line = svg(&months, "revenue_minor", Shape::Line).expect("a chart");
        assert!(
            line.contains("<polyline") && line.contains("2026-04") && line.contains("250,000"),
            "{line}"
        );
        let names = table(&[("Tea & <spices>", 500_000), ("Batik", 400_000)]);
        let bars = svg(&names, "revenue_minor", Shape::Bars).expect("a chart");
        assert!(
            bars.contains("Tea &amp; &lt;spices&gt;") && !bars.contains("<spices>"),
            "{bars}"
        );
        assert!(bars.matches("<rect").count() >= 3, "the background and two bars");
        assert!(bars.contains("Tea &amp;"), "names read across");
        assert_eq!(svg(&table(&[]), "revenue_minor", Shape::Line), None, "nothing to draw");
        if let Some(dir) = std::env::var_os("POLA_CHART_SAMPLES") {
            std::fs::write(std::path::Path::new(&dir).join("line.svg"), line).expect("written");
            std::fs::write(std::path::Path::new(&dir).join("bars.svg"), bars).expect("written");
        }
    }
}
