//! SVG pictures for the SREs' pages, drawn with `plotters`: a route's latency and error rate
//! over time, and a trace's spans as a waterfall.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, Utc};
use plotters::prelude::*;
use serde_json::Value;

use crate::query::Point;

const INK: RGBColor = RGBColor(0x1f, 0x5f, 0x8b);
const WARM: RGBColor = RGBColor(0xc2, 0x41, 0x0c);
const GRID: RGBColor = RGBColor(0xf2, 0xf4, 0xf7);
const WIDTH: u32 = 900;
const COLOMBO_SECONDS: i32 = 5 * 3600 + 30 * 60;

/// A route's p50 and p99 latency (above) and error rate (below) from `first` to `last`, as an
/// SVG document; None without points.
pub fn series_svg(points: &[Point], first: DateTime<Utc>, last: DateTime<Utc>) -> Option<String> {
    points.first()?;
    let last = last.max(first + chrono::Duration::minutes(1));
    let slowest = points.iter().filter_map(|p| p.p99_ms).fold(1.0_f64, f64::max) * 1.1;
    let error_rate = |p: &Point| {
        if p.requests == 0 {
            0.0
        } else {
            100.0 * p.errors as f64 / p.requests as f64
        }
    };
    let worst = points.iter().map(error_rate).fold(1.0_f64, f64::max).min(100.0) * 1.1;
    // Colombo's clock (+05:30, no summer time), as the SREs read it.
    let time = |at: &DateTime<Utc>| match FixedOffset::east_opt(COLOMBO_SECONDS) {
        Some(colombo) => at.with_timezone(&colombo).format("%H:%M").to_string(),
        None => at.format("%H:%M").to_string(),
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, 520)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let (upper, lower) = root.split_vertically(320);
        let mut latency = ChartBuilder::on(&upper)
            .caption("Latency (ms)", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(70)
            .build_cartesian_2d(first..last, 0.0..slowest)
            .ok()?;
        latency
            .configure_mesh()
            .light_line_style(GRID)
            .x_labels(8)
            .x_label_formatter(&time)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 12))
            .draw()
            .ok()?;
        for (label, colour, pick) in [
            ("p50", INK, (|p: &Point| p.p50_ms) as fn(&Point) -> Option<f64>),
            ("p99", WARM, |p: &Point| p.p99_ms),
        ] {
            let values: Vec<(DateTime<Utc>, f64)> = points.iter().filter_map(|p| Some((p.at, pick(p)?))).collect();
            latency
                .draw_series(LineSeries::new(values.iter().copied(), colour.stroke_width(2)))
                .ok()?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            // A dot per step, so that a lone minute of traffic shows.
            latency
                .draw_series(values.iter().map(|&at| Circle::new(at, 2, colour.filled())))
                .ok()?;
        }
        latency
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(GRID)
            .background_style(WHITE)
            .label_font(("sans-serif", 12))
            .draw()
            .ok()?;
        let mut errors = ChartBuilder::on(&lower)
            .caption("Server errors (% of requests)", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(70)
            .build_cartesian_2d(first..last, 0.0..worst)
            .ok()?;
        errors
            .configure_mesh()
            .light_line_style(GRID)
            .x_labels(8)
            .x_label_formatter(&time)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .label_style(("sans-serif", 12))
            .draw()
            .ok()?;
        errors
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.at, error_rate(p))),
                WARM.stroke_width(2),
            ))
            .ok()?;
        root.present().ok()?;
    }
    Some(out)
}

/// One bar of a waterfall: a span, how deep it sits, and when it ran relative to the trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bar {
    pub depth: usize,
    pub label: String,
    pub offset_ms: f64,
    pub duration_ms: f64,
    pub kind: String,
}

fn started(span: &Value) -> Option<DateTime<Utc>> {
    span["@timestamp"].as_str()?.parse().ok()
}

/// What a span did, in a few words: its route, statement or name, and where it ran.
fn describe(span: &Value) -> String {
    let what = ["http.route", "db.statement", "http.path"]
        .iter()
        .find_map(|key| span[*key].as_str())
        .unwrap_or_default();
    let name = span["name"].as_str().unwrap_or("span");
    let service = span["service"].as_str().unwrap_or_default();
    let mut label = format!("{service} {name} {what}");
    if let Some((at, _)) = label.char_indices().nth(70) {
        label.truncate(at);
        label.push('…');
    }
    label.trim().to_owned()
}

/// A span's parent in the trace; none for a root (whose parent is the client's span, or one
/// that was dropped).
fn parent<'a>(span: &'a Value, ids: &HashSet<&str>) -> Option<&'a str> {
    span["parent.id"].as_str().filter(|p| ids.contains(p))
}

/// A trace's spans in the order of the tree (each parent before its children, siblings by
/// start), with their depth and start relative to the earliest span.
pub fn waterfall(spans: &[Value]) -> Vec<Bar> {
    let Some(origin) = spans.iter().filter_map(started).min() else {
        return vec![];
    };
    let ids: HashSet<&str> = spans.iter().filter_map(|s| s["span.id"].as_str()).collect();
    let mut order = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, &Value)> = spans.iter().filter(|s| parent(s, &ids).is_none()).map(|s| (0, s)).collect();
    stack.sort_by_key(|(_, s)| std::cmp::Reverse(started(s)));
    while let Some((depth, span)) = stack.pop() {
        let offset = started(span).map_or(0.0, |at| (at - origin).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        order.push(Bar {
            depth,
            label: describe(span),
            offset_ms: offset,
            duration_ms: span["duration_ms"].as_f64().unwrap_or(0.0),
            kind: span["kind"].as_str().unwrap_or("internal").to_owned(),
        });
        let id = span["span.id"].as_str();
        let mut children: Vec<_> = spans.iter().filter(|s| id.is_some() && parent(s, &ids) == id).collect();
        children.sort_by_key(|s| std::cmp::Reverse(started(s)));
        stack.extend(children.into_iter().map(|s| (depth + 1, s)));
    }
    order
}

/// The most spans a waterfall draws (a page lists them all).
const MAX_SPANS: usize = 60;

/// A trace's waterfall as an SVG document: one bar per span, indented by depth.
pub fn waterfall_svg(bars: &[Bar]) -> Option<String> {
    let bars = &bars[..bars.len().min(MAX_SPANS)];
    let n = bars.len();
    if n == 0 {
        return None;
    }
    let end = bars.iter().map(|b| b.offset_ms + b.duration_ms).fold(0.1_f64, f64::max) * 1.05;
    let mut out = String::new();
    {
        let height = u32::try_from(70 + 22 * n).unwrap_or(1400);
        let root = SVGBackend::with_string(&mut out, (WIDTH + 200, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(470)
            .build_cartesian_2d(0.0..end, 0.0..n as f64)
            .ok()?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(GRID)
            .y_labels(0)
            .x_desc("milliseconds since the trace began")
            .x_label_formatter(&|x| format!("{x:.1}"))
            .label_style(("sans-serif", 12))
            .draw()
            .ok()?;
        // The first span at the top: row i sits between n-i-1 and n-i.
        chart
            .draw_series(bars.iter().enumerate().map(|(i, bar)| {
                let colour = match bar.kind.as_str() {
                    "db" => WARM,
                    "server" => INK,
                    _ => RGBColor(0x4b, 0x55, 0x63),
                };
                let top = (n - i) as f64 - 0.2;
                let right = bar.offset_ms + bar.duration_ms.max(end / 400.0);
                Rectangle::new([(bar.offset_ms, top), (right, top - 0.6)], colour.filled())
            }))
            .ok()?;
        // Each label indented by its span's depth (SVG text keeps no leading spaces).
        for (i, bar) in bars.iter().enumerate() {
            let (_, y) = chart.backend_coord(&(0.0, (n - i) as f64 - 0.5));
            let x = 16 + 10 * i32::try_from(bar.depth.min(8)).ok()?;
            root.draw(&Text::new(bar.label.as_str(), (x, y - 7), ("monospace", 12).into_font()))
                .ok()?;
        }
        root.present().ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_waterfall_puts_children_under_their_parent_in_start_order() {
        let spans = [
            json!({"@timestamp": "2026-12-03T10:00:00.004Z", "span.id": "b", "parent.id": "a", "name": "db.query", "kind": "db", "db.statement": "SELECT 2", "duration_ms": 1.0}),
            json!({"@timestamp": "2026-12-03T10:00:00.000Z", "span.id": "e", "parent.id": "client", "name": "edge.request", "kind": "server", "duration_ms": 9.0}),
            json!({"@timestamp": "2026-12-03T10:00:00.001Z", "span.id": "a", "parent.id": "e", "name": "http.request", "kind": "server", "http.route": "/api/v1/orders", "duration_ms": 7.0}),
            json!({"@timestamp": "2026-12-03T10:00:00.002Z", "span.id": "c", "parent.id": "a", "name": "db.query", "kind": "db", "db.statement": "SELECT 1", "duration_ms": 1.5}),
        ];
        let bars = waterfall(&spans);
        let shape: Vec<(usize, &str, f64)> = bars.iter().map(|b| (b.depth, b.label.as_str(), b.offset_ms)).collect();
        assert_eq!(
            shape,
            [
                (0, "edge.request", 0.0),
                (1, "http.request /api/v1/orders", 1.0),
                (2, "db.query SELECT 1", 2.0),
                (2, "db.query SELECT 2", 4.0),
            ]
        );
        let svg = waterfall_svg(&bars).expect("a picture");
        for bar in &bars {
            assert!(svg.contains(&bar.label), "{} is not labelled in {svg}", bar.label);
        }
    }
}
