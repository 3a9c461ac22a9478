//! A report's result: typed columns, rows of cells, a few summary figures, and how fresh the data
//! is; written as text, CSV or JSON.

use std::fmt::Write as _;

use chrono::NaiveDate;
use pola_core::money::grouped;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::source::Freshness;

/// What a column holds, which decides how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Count,
    /// Cents: integers in JSON, rupees with two decimals elsewhere.
    Money,
    /// A share, 0 to 100, one decimal.
    Percent,
    /// A duration in hours, one decimal.
    Hours,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// The JSON key (money keys end in `_minor`).
    pub key: &'static str,
    /// The heading people read (tables, CSV).
    pub label: &'static str,
    pub kind: Kind,
}

pub const fn column(key: &'static str, label: &'static str, kind: Kind) -> Column {
    Column { key, label, kind }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Text(String),
    Int(i64),
    Float(f64),
    Empty,
}

impl Cell {
    /// The cell as a number, for charts and totals (text and empty cells are 0).
    pub fn number(&self) -> f64 {
        match self {
            Cell::Int(n) => *n as f64,
            Cell::Float(x) => *x,
            Cell::Text(_) | Cell::Empty => 0.0,
        }
    }

    /// The cell as people read it, in a column of `kind`.
    pub fn display(&self, kind: Kind) -> String {
        match (self, kind) {
            (Cell::Empty, _) => String::new(),
            (Cell::Text(s), _) => s.clone(),
            (Cell::Int(n), Kind::Money) => grouped(*n),
            (Cell::Int(n), _) => n.to_string(),
            (Cell::Float(x), _) => format!("{x:.1}"),
        }
    }

    /// The cell in a CSV file: plain numbers, rupees with two decimals and no grouping.
    fn csv(&self, kind: Kind) -> String {
        match (self, kind) {
            (Cell::Int(n), Kind::Money) => grouped(*n).replace(',', ""),
            _ => self.display(kind),
        }
    }
}

impl Cell {
    /// A JSON value as a cell: whole numbers stay whole, others keep one decimal.
    pub fn from_json(value: &Value) -> Self {
        match value {
            Value::Null => Cell::Empty,
            Value::String(s) => Cell::Text(s.clone()),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(whole), _) => Cell::Int(whole),
                (None, Some(x)) => Cell::from(x),
                (None, None) => Cell::Empty,
            },
            other => Cell::Text(other.to_string()),
        }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}
impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}
impl From<f64> for Cell {
    fn from(x: f64) -> Self {
        Cell::Float((x * 10.0).round() / 10.0)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Empty, Into::into)
    }
}

/// A figure about a whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The JSON key (money keys end in `_minor`).
    pub key: &'static str,
    pub label: &'static str,
    pub value: Cell,
    pub kind: Kind,
}

impl Figure {
    pub fn new(key: &'static str, label: &'static str, value: Cell, kind: Kind) -> Self {
        Self { key, label, value, kind }
    }
}

/// The dates a report covers, in Colombo, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// What a report found.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub report: &'static str,
    pub title: String,
    /// None for reports of the present moment (stock, money owed).
    pub period: Option<Period>,
    pub freshness: Freshness,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// Figures about the whole report (totals, counts of mismatches).
    pub summary: Vec<Figure>,
}

impl Table {
    /// The column with key `key`, by position.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.key == key)
    }

    /// An aligned plain-text table for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        if let Some(p) = self.period {
            let _ = writeln!(out, "{} to {} (Colombo)", p.from, p.to);
        }
        let _ = writeln!(out, "{}", self.freshness);
        for figure in &self.summary {
            let _ = writeln!(out, "{}: {}", figure.label, figure.value.display(figure.kind));
        }
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().zip(&self.columns).map(|(c, col)| c.display(col.kind)).collect())
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, col)| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([col.label.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |values: Vec<&str>, out: &mut String| {
            let padded: Vec<String> = values
                .iter()
                .zip(&self.columns)
                .zip(&widths)
                .map(|((v, col), w)| match col.kind {
                    Kind::Text => format!("{v:<w$}"),
                    _ => format!("{v:>w$}"),
                })
                .collect();
            let _ = writeln!(out, "{}", padded.join("  ").trim_end());
        };
        out.push('\n');
        line(self.columns.iter().map(|c| c.label).collect(), &mut out);
        for row in &cells {
            line(row.iter().map(String::as_str).collect(), &mut out);
        }
        if self.rows.is_empty() {
            out.push_str("(nothing in this period)\n");
        }
        out
    }

    /// CSV with a heading row of labels; money in rupees.
    pub fn csv(&self) -> Result<String, csv::Error> {
        let mut writer = csv::Writer::from_writer(vec![]);
        writer.write_record(self.columns.iter().map(|c| c.label))?;
        for row in &self.rows {
            writer.write_record(row.iter().zip(&self.columns).map(|(c, col)| c.csv(col.kind)))?;
        }
        let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// JSON: each row an object by column key, money in cents.
    pub fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let object: Map<String, Value> = self
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(col, cell)| (col.key.to_owned(), serde_json::to_value(cell).unwrap_or(Value::Null)))
                    .collect();
                Value::Object(object)
            })
            .collect();
        let summary: Map<String, Value> = self
            .summary
            .iter()
            .map(|f| (f.key.to_owned(), serde_json::to_value(&f.value).unwrap_or(Value::Null)))
            .collect();
        json!({
            "report": self.report,
            "title": self.title,
            "period": self.period,
            "data_as_of": self.freshness.as_of,
            "site": self.freshness.site,
            "site_role": self.freshness.role,
            "replica_lag_secs": self.freshness.lag_secs,
            "freshness": self.freshness.to_string(),
            "columns": self.columns,
            "summary": summary,
            // The same figures in order, with their labels, for pages.
            "figures": self.summary,
            "rows": rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Role;

    fn table() -> Table {
        Table {
            report: "sales",
            title: "Sales by day".into(),
            period: None,
            freshness: Freshness {
                site: "dr".into(),
                role: Role::Replica,
                lag_secs: Some(2),
                as_of: None,
            },
            columns: vec![
                column("day", "Day", Kind::Text),
                column("revenue_minor", "Revenue (Rs.)", Kind::Money),
            ],
            rows: vec![
                vec!["2026-04-13".into(), Cell::Int(123_456_789)],
                vec!["2026, \"Avurudu\"".into(), Cell::Int(-5)],
            ],
            summary: vec![Figure::new("orders", "Orders", Cell::Int(2), Kind::Count)],
        }
    }

    #[test]
    fn csv_quotes_text_and_writes_rupees_without_grouping() {
        assert_eq!(
            table().csv().expect("csv"),
            "Day,Revenue (Rs.)\n2026-04-13,1234567.89\n\"2026, \"\"Avurudu\"\"\",-0.05\n"
        );
    }

    #[test]
    fn json_keeps_cents_and_says_how_fresh() {
        let json = table().json();
        assert_eq!(json["rows"][0]["revenue_minor"], 123_456_789);
        assert_eq!(json["replica_lag_secs"], 2);
        assert_eq!(json["summary"]["orders"], 2);
        assert!(json["freshness"].as_str().expect("text").contains("replica lag 2 s"));
    }

    #[test]
    fn text_aligns_numbers_right() {
        let text = table().text();
        assert!(text.contains("\nDay              Revenue (Rs.)\n"), "{text}");
        assert!(text.contains("\n2026-04-13        1,234,567.89\n"), "{text}");
        assert!(text.contains("\n2026, \"Avurudu\"          -0.05\n"), "{text}");
    }
}
