//! The reports: each one SQL over the services' databases on the standby (`{p}_orders.orders`,
//! …, joined across databases on the same server), its rows typed with `FromRow`, turned into a
//! [`Table`]. They work on ids, amounts, districts and categories: no name, address, email or
//! phone number is ever selected.
//!
//! Times are stored in UTC; days, weeks and months are Colombo's (UTC+05:30, no daylight saving),
//! so `created_at + INTERVAL 330 MINUTE` is the local time. An order counts as a sale unless it
//! is still waiting for payment or was cancelled; refunded and returned orders count as sold and
//! appear again in the refunds report.

use std::{collections::BTreeMap, str::FromStr};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use mysql_async::prelude::FromRow;
use pola_core::auth::Role;
use serde::Serialize;

use crate::{
    source::{Error, Reporting, Session},
    table::{Cell, Column, Figure, Kind, Period, Table, column},
};

/// Orders that count as sales.
const SOLD: &str = "o.status NOT IN ('pending_payment', 'cancelled')";

/// A report staff can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Report {
    Sales,
    TopProducts,
    LowStock,
    StockValue,
    Payments,
    CodOwed,
    Refunds,
    Promotions,
    Customers,
    Cohorts,
    AbandonedCarts,
    Support,
}

impl Report {
    pub const ALL: [Report; 12] = [
        Report::Sales,
        Report::TopProducts,
        Report::LowStock,
        Report::StockValue,
        Report::Payments,
        Report::CodOwed,
        Report::Refunds,
        Report::Promotions,
        Report::Customers,
        Report::Cohorts,
        Report::AbandonedCarts,
        Report::Support,
    ];

    /// The name in addresses and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Report::Sales => "sales",
            Report::TopProducts => "top-products",
            Report::LowStock => "low-stock",
            Report::StockValue => "stock-value",
            Report::Payments => "payments",
            Report::CodOwed => "cod-owed",
            Report::Refunds => "refunds",
            Report::Promotions => "promotions",
            Report::Customers => "customers",
            Report::Cohorts => "cohorts",
            Report::AbandonedCarts => "abandoned-carts",
            Report::Support => "support",
        }
    }

    /// What it shows, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Report::Sales => "Sales",
            Report::TopProducts => "Top products",
            Report::LowStock => "Low stock",
            Report::StockValue => "Stock value per location",
            Report::Payments => "PayHere reconciliation",
            Report::CodOwed => "Cash on delivery owed by couriers",
            Report::Refunds => "Refunds, cancellations and returns",
            Report::Promotions => "Promotion usage and cost",
            Report::Customers => "New and returning customers",
            Report::Cohorts => "Monthly cohort retention",
            Report::AbandonedCarts => "Abandoned carts",
            Report::Support => "Support response and resolution against targets",
        }
    }

    /// Who may see it besides admins.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Report::Sales | Report::TopProducts | Report::Customers | Report::Cohorts | Report::AbandonedCarts => {
                &[Role::Admin, Role::Finance, Role::Catalog]
            }
            Report::LowStock => &[Role::Admin, Role::Catalog, Role::Fulfilment],
            Report::StockValue => &[Role::Admin, Role::Catalog, Role::Finance],
            Report::Payments | Report::CodOwed | Report::Refunds => &[Role::Admin, Role::Finance],
            Report::Promotions => &[Role::Admin, Role::Finance, Role::Catalog],
            Report::Support => &[Role::Admin, Role::Support],
        }
    }

    /// Whether its figures cover dates (others are of the present moment).
    pub fn has_period(self) -> bool {
        !matches!(self, Report::LowStock | Report::StockValue | Report::CodOwed)
    }
}

impl FromStr for Report {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Report::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| {
            let names: Vec<_> = Report::ALL.iter().map(|r| r.name()).collect();
            format!("no report `{s}`; there are: {}", names.join(", "))
        })
    }
}

/// How the sales report groups orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesBy {
    #[default]
    Day,
    Week,
    Month,
    District,
    Category,
    Method,
}

impl SalesBy {
    pub const ALL: [SalesBy; 6] = [
        SalesBy::Day,
        SalesBy::Week,
        SalesBy::Month,
        SalesBy::District,
        SalesBy::Category,
        SalesBy::Method,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SalesBy::Day => "day",
            SalesBy::Week => "week",
            SalesBy::Month => "month",
            SalesBy::District => "district",
            SalesBy::Category => "category",
            SalesBy::Method => "method",
        }
    }

    /// Whether its rows follow one another in time (a line chart) or are categories (bars).
    pub fn is_time(self) -> bool {
        matches!(self, SalesBy::Day | SalesBy::Week | SalesBy::Month)
    }
}

impl FromStr for SalesBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        SalesBy::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| format!("`{s}`: sales go by day, week, month, district, category or method"))
    }
}

/// A report to run, with its filters.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Request {
    pub report: Report,
    pub period: Period,
    /// Sales: how to group.
    pub by: SalesBy,
    /// Top products: how many.
    pub limit: u32,
    /// Low stock: at most this many units left to sell.
    pub threshold: i64,
    /// Abandoned carts: untouched for at least this many hours.
    pub idle_hours: u32,
}

impl Request {
    /// `report` over `period` with the default filters.
    pub fn new(report: Report, period: Period) -> Self {
        Self {
            report,
            period,
            by: SalesBy::Day,
            limit: 20,
            threshold: 5,
            idle_hours: 24,
        }
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::BadRequest(m.to_owned()));
        if self.period.to < self.period.from {
            return bad("the period ends before it starts");
        }
        if (self.period.to - self.period.from).num_days() > 3 * 366 {
            return bad("a period is at most three years");
        }
        if !(1..=500).contains(&self.limit) {
            return bad("limit must be 1 to 500");
        }
        if !(0..=1_000_000).contains(&self.threshold) {
            return bad("threshold must be 0 to 1000000");
        }
        if !(1..=24 * 90).contains(&self.idle_hours) {
            return bad("idle hours must be 1 to 2160");
        }
        Ok(())
    }

    /// The period as UTC bounds: from its first Colombo midnight, up to the one after its last day.
    fn bounds(&self) -> (NaiveDateTime, NaiveDateTime) {
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight exists") - chrono::Duration::minutes(330);
        (
            midnight(self.period.from),
            midnight(self.period.to + chrono::Duration::days(1)),
        )
    }
}

/// Runs `request` on the standby.
pub async fn run(reporting: &Reporting, request: &Request) -> Result<Table, Error> {
    request.check()?;
    let mut session = reporting.standby().await?;
    let started = std::time::Instant::now();
    let (title, columns, rows, summary) = match request.report {
        Report::Sales => sales(&mut session, request).await?,
        Report::TopProducts => top_products(&mut session, request).await?,
        Report::LowStock => low_stock(&mut session, request).await?,
        Report::StockValue => stock_value(&mut session).await?,
        Report::Payments => payments(&mut session, request).await?,
        Report::CodOwed => cod_owed(&mut session).await?,
        Report::Refunds => refunds(&mut session, request).await?,
        Report::Promotions => promotions(&mut session, request).await?,
        Report::Customers => customers(&mut session, request).await?,
        Report::Cohorts => cohorts(&mut session, request).await?,
        Report::AbandonedCarts => abandoned_carts(&mut session, request).await?,
        Report::Support => support(&mut session, request).await?,
    };
    tracing::info!(
        report = request.report.name(),
        site = %session.freshness.site,
        rows = rows.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "report run"
    );
    Ok(Table {
        report: request.report.name(),
        title,
        period: request.report.has_period().then_some(request.period),
        freshness: session.freshness,
        columns,
        rows,
        summary,
    })
}

type Parts = (String, Vec<Column>, Vec<Vec<Cell>>, Vec<Figure>);

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// Typed rows as the table's cells: each row serialises with its report's column keys.
fn cells<R: Serialize>(rows: &[R], columns: &[Column]) -> Vec<Vec<Cell>> {
    rows.iter()
        .map(|row| {
            let value = serde_json::to_value(row).unwrap_or_default();
            columns.iter().map(|c| Cell::from_json(&value[c.key])).collect()
        })
        .collect()
}

#[derive(FromRow)]
struct SalesRow {
    label: String,
    orders: i64,
    revenue: i64,
    discounts: i64,
    delivery: i64,
}

#[derive(FromRow)]
struct CategoryRow {
    label: String,
    orders: i64,
    units: i64,
    revenue: i64,
}

async fn sales(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let local = "(o.created_at + INTERVAL 330 MINUTE)";
    let (from, to) = request.bounds();
    let title = format!("Sales by {}", request.by.as_str());
    if request.by == SalesBy::Category {
        let rows: Vec<CategoryRow> = session
            .rows(
                &format!(
                    "SELECT COALESCE(cat.name, 'unknown') AS label, COUNT(DISTINCT o.id) AS orders,
                        CAST(SUM(l.quantity) AS SIGNED) AS units,
                        CAST(SUM(l.line_total_minor + l.discount_minor) AS SIGNED) AS revenue
                     FROM {{p}}_orders.orders o
                     JOIN {{p}}_orders.order_lines l ON l.order_id = o.id
                     LEFT JOIN {{p}}_catalog.products pr ON pr.id = l.product_id
                     LEFT JOIN {{p}}_catalog.categories cat ON cat.id = pr.category_id
                     WHERE o.created_at >= ? AND o.created_at < ? AND {SOLD}
                     GROUP BY label ORDER BY revenue DESC, label"
                ),
                (from, to),
            )
            .await?;
        let revenue: i64 = rows.iter().map(|r| r.revenue).sum();
        let units: i64 = rows.iter().map(|r| r.units).sum();
        let columns = vec![
            column("category", "Category", Kind::Text),
            column("orders", "Orders", Kind::Count),
            column("units", "Units", Kind::Count),
            column("revenue_minor", "Revenue after discounts (Rs.)", Kind::Money),
            column("share_percent", "Share %", Kind::Percent),
        ];
        let cells = rows
            .into_iter()
            .map(|r| {
                vec![
                    r.label.into(),
                    r.orders.into(),
                    r.units.into(),
                    r.revenue.into(),
                    share(r.revenue, revenue).into(),
                ]
            })
            .collect();
        let summary = vec![
            Figure::new("units", "Units sold", Cell::Int(units), Kind::Count),
            Figure::new("revenue_minor", "Revenue", Cell::Int(revenue), Kind::Money),
        ];
        return Ok((title, columns, cells, summary));
    }
    let (key, join, order) = match request.by {
        SalesBy::Day => (format!("DATE_FORMAT({local}, '%Y-%m-%d')"), "", "label"),
        SalesBy::Week => (
            format!("DATE_FORMAT(DATE({local}) - INTERVAL WEEKDAY({local}) DAY, '%Y-%m-%d')"),
            "",
            "label",
        ),
        SalesBy::Month => (format!("DATE_FORMAT({local}, '%Y-%m')"), "", "label"),
        SalesBy::District => ("COALESCE(o.district, 'unknown')".to_owned(), "", "revenue DESC, label"),
        SalesBy::Method | SalesBy::Category => (
            "COALESCE(c.method, 'unknown')".to_owned(),
            "LEFT JOIN {p}_payments.checkouts c ON c.order_id = o.id",
            "revenue DESC, label",
        ),
    };
    let rows: Vec<SalesRow> = session
        .rows(
            &format!(
                "SELECT CAST({key} AS CHAR) AS label, COUNT(*) AS orders,
                    CAST(SUM(o.total_minor) AS SIGNED) AS revenue,
                    CAST(-SUM(o.discount_minor) AS SIGNED) AS discounts,
                    CAST(SUM(o.delivery_fee_minor) AS SIGNED) AS delivery
                 FROM {{p}}_orders.orders o {join}
                 WHERE o.created_at >= ? AND o.created_at < ? AND {SOLD}
                 GROUP BY label ORDER BY {order}"
            ),
            (from, to),
        )
        .await?;
    let orders: i64 = rows.iter().map(|r| r.orders).sum();
    let revenue: i64 = rows.iter().map(|r| r.revenue).sum();
    let columns = vec![
        column(
            request.by.as_str(),
            match request.by {
                SalesBy::Day => "Day",
                SalesBy::Week => "Week from",
                SalesBy::Month => "Month",
                SalesBy::District => "District",
                SalesBy::Method | SalesBy::Category => "Payment method",
            },
            Kind::Text,
        ),
        column("orders", "Orders", Kind::Count),
        column("revenue_minor", "Revenue (Rs.)", Kind::Money),
        column("discounts_minor", "Discounts (Rs.)", Kind::Money),
        column("delivery_minor", "Delivery charged (Rs.)", Kind::Money),
        column("average_minor", "Average order (Rs.)", Kind::Money),
    ];
    let cells = rows
        .into_iter()
        .map(|r| {
            vec![
                r.label.into(),
                r.orders.into(),
                r.revenue.into(),
                r.discounts.into(),
                r.delivery.into(),
                (r.revenue / r.orders.max(1)).into(),
            ]
        })
        .collect();
    let summary = vec![
        Figure::new("orders", "Orders", Cell::Int(orders), Kind::Count),
        Figure::new("revenue_minor", "Revenue", Cell::Int(revenue), Kind::Money),
    ];
    Ok((title, columns, cells, summary))
}

#[derive(FromRow, Serialize)]
struct TopProductRow {
    product: String,
    product_id: String,
    orders: i64,
    units: i64,
    revenue_minor: i64,
}

async fn top_products(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    let rows: Vec<TopProductRow> = session
        .rows(
            &format!(
                "SELECT MAX(l.title) AS product,
                    LOWER(INSERT(INSERT(INSERT(INSERT(HEX(l.product_id), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-'))
                        AS product_id,
                    COUNT(DISTINCT o.id) AS orders, CAST(SUM(l.quantity) AS SIGNED) AS units,
                    CAST(SUM(l.line_total_minor + l.discount_minor) AS SIGNED) AS revenue_minor
                 FROM {{p}}_orders.orders o JOIN {{p}}_orders.order_lines l ON l.order_id = o.id
                 WHERE o.created_at >= ? AND o.created_at < ? AND {SOLD}
                 GROUP BY l.product_id ORDER BY revenue_minor DESC, product_id LIMIT ?"
            ),
            (from, to, request.limit),
        )
        .await?;
    let columns = vec![
        column("product", "Product", Kind::Text),
        column("product_id", "Product id", Kind::Text),
        column("orders", "Orders", Kind::Count),
        column("units", "Units", Kind::Count),
        column("revenue_minor", "Revenue after discounts (Rs.)", Kind::Money),
    ];
    let cells = cells(&rows, &columns);
    Ok((format!("Top {} products", request.limit), columns, cells, vec![]))
}

#[derive(FromRow, Serialize)]
struct LowStockRow {
    sku: String,
    product: String,
    location: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
}

async fn low_stock(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let rows: Vec<LowStockRow> = session
        .rows(
            "SELECT v.sku, pr.name AS product, s.location, CAST(s.on_hand AS SIGNED) AS on_hand,
                CAST(s.reserved AS SIGNED) AS reserved, CAST(s.on_hand - s.reserved AS SIGNED) AS available
             FROM {p}_inventory.stock s
             JOIN {p}_catalog.variants v ON v.id = s.variant_id
             JOIN {p}_catalog.products pr ON pr.id = v.product_id
             WHERE v.status = 'active' AND pr.status = 'active' AND s.on_hand - s.reserved <= ?
             ORDER BY s.on_hand - s.reserved, v.sku, s.location",
            (request.threshold,),
        )
        .await?;
    let columns = vec![
        column("sku", "SKU", Kind::Text),
        column("product", "Product", Kind::Text),
        column("location", "Location", Kind::Text),
        column("on_hand", "On hand", Kind::Count),
        column("reserved", "Reserved", Kind::Count),
        column("available", "Available", Kind::Count),
    ];
    let sold_out = rows.iter().filter(|r| r.available <= 0).count();
    let cells = cells(&rows, &columns);
    let summary = vec![Figure::new("sold_out", "Sold out", Cell::Int(sold_out as i64), Kind::Count)];
    Ok((
        format!("Low stock (at most {} available)", request.threshold),
        columns,
        cells,
        summary,
    ))
}

#[derive(FromRow, Serialize)]
struct StockValueRow {
    location: String,
    variants: i64,
    units: i64,
    reserved: i64,
    value_minor: i64,
    sold_out: i64,
}

async fn stock_value(session: &mut Session) -> Result<Parts, Error> {
    let rows: Vec<StockValueRow> = session
        .rows(
            "SELECT s.location, COUNT(*) AS variants, CAST(SUM(s.on_hand) AS SIGNED) AS units,
                CAST(SUM(s.reserved) AS SIGNED) AS reserved,
                CAST(SUM(s.on_hand * v.price_minor) AS SIGNED) AS value_minor,
                CAST(SUM(s.on_hand - s.reserved <= 0) AS SIGNED) AS sold_out
             FROM {p}_inventory.stock s JOIN {p}_catalog.variants v ON v.id = s.variant_id
             WHERE v.status = 'active'
             GROUP BY s.location ORDER BY s.location",
            (),
        )
        .await?;
    let value: i64 = rows.iter().map(|r| r.value_minor).sum();
    let columns = vec![
        column("location", "Location", Kind::Text),
        column("variants", "Variants", Kind::Count),
        column("units", "Units on hand", Kind::Count),
        column("reserved", "Reserved", Kind::Count),
        column("sold_out", "Sold out", Kind::Count),
        column("value_minor", "Value at today's prices (Rs.)", Kind::Money),
    ];
    let cells = cells(&rows, &columns);
    Ok((
        "Stock value per location".into(),
        columns,
        cells,
        vec![Figure::new("value_minor", "Value", Cell::Int(value), Kind::Money)],
    ))
}

/// Every PayHere payment of the period with what it says about its order, and every order the
/// shop treats as paid by PayHere without a payment: `verdict` is `matched`, `not paid` (a
/// failed or cancelled attempt) or a mismatch.
const RECONCILIATION: &str = "
    SELECT pay.reference, CAST(pay.status AS CHAR) AS payment_status, pay.amount_minor AS paid,
        o.total_minor AS due, o.number, CAST(o.status AS CHAR) AS order_status, pay.created_at AS at,
        CASE
            WHEN o.id IS NULL THEN 'no such order'
            WHEN pay.status = 'charged_back' THEN 'charged back'
            WHEN pay.status <> 'succeeded' THEN 'not paid'
            WHEN pay.amount_minor <> o.total_minor THEN 'amount differs'
            WHEN o.status IN ('pending_payment', 'cancelled') AND pay.outcome <> 'refunded' THEN 'paid, order not taken'
            WHEN (SELECT COUNT(*) FROM {p}_payments.payments twin
                  WHERE twin.order_id = pay.order_id AND twin.status = 'succeeded') > 1 THEN 'paid twice'
            ELSE 'matched'
        END AS verdict
    FROM {p}_payments.payments pay LEFT JOIN {p}_orders.orders o ON o.id = pay.order_id
    WHERE pay.method = 'payhere' AND pay.created_at >= ? AND pay.created_at < ?
    UNION ALL
    SELECT NULL, NULL, 0, o.total_minor, o.number, CAST(o.status AS CHAR), o.created_at, 'order paid, no payment'
    FROM {p}_orders.orders o JOIN {p}_payments.checkouts c ON c.order_id = o.id AND c.method = 'payhere'
    WHERE o.created_at >= ? AND o.created_at < ?
        AND o.status IN ('paid', 'packed', 'shipped', 'delivered', 'delivery_failed', 'returned', 'refunded')
        AND NOT EXISTS (SELECT 1 FROM {p}_payments.payments pay
                        WHERE pay.order_id = o.id AND pay.status IN ('succeeded', 'charged_back'))";

/// A payment (or an order) reconciled, with the count and amount of all those of its verdict.
#[derive(FromRow, Serialize)]
struct ReconciledRow {
    verdict: String,
    verdict_count: i64,
    verdict_paid: i64,
    order: Option<String>,
    payment_id: Option<String>,
    payment_status: Option<String>,
    paid_minor: i64,
    due_minor: Option<i64>,
    order_status: Option<String>,
    /// Colombo's wall clock, to the minute.
    at: String,
}

async fn payments(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    // One pass over the period (the reconciliation is most of the report's time): every
    // mismatch, and the first of each other verdict for its figures.
    let rows: Vec<ReconciledRow> = session
        .rows(
            &format!(
                "SELECT verdict, verdict_count, verdict_paid, number AS `order`, reference AS payment_id, payment_status,
                    paid AS paid_minor, due AS due_minor, order_status,
                    DATE_FORMAT(w.at + INTERVAL 330 MINUTE, '%Y-%m-%d %H:%i') AS at
                 FROM (SELECT r.*, COUNT(*) OVER (PARTITION BY verdict) AS verdict_count,
                          CAST(SUM(paid) OVER (PARTITION BY verdict) AS SIGNED) AS verdict_paid,
                          ROW_NUMBER() OVER (PARTITION BY verdict ORDER BY r.at, reference) AS nth
                       FROM ({RECONCILIATION}) r) w
                 WHERE nth = 1 OR verdict NOT IN ('matched', 'not paid')
                 ORDER BY w.at, reference"
            ),
            (from, to, from, to),
        )
        .await?;
    let (verdicts, mismatches): (Vec<ReconciledRow>, Vec<ReconciledRow>) = rows
        .into_iter()
        .partition(|r| matches!(r.verdict.as_str(), "matched" | "not paid"));
    let of = |v: &str| verdicts.iter().find(|r| r.verdict == v);
    let matched = of("matched");
    let summary = vec![
        Figure::new(
            "matched_payments",
            "Payments matched",
            Cell::Int(matched.map_or(0, |r| r.verdict_count)),
            Kind::Count,
        ),
        Figure::new(
            "matched_minor",
            "Amount matched",
            Cell::Int(matched.map_or(0, |r| r.verdict_paid)),
            Kind::Money,
        ),
        Figure::new(
            "attempts_not_paid",
            "Attempts not paid",
            Cell::Int(of("not paid").map_or(0, |r| r.verdict_count)),
            Kind::Count,
        ),
        Figure::new("mismatches", "Mismatches", Cell::Int(mismatches.len() as i64), Kind::Count),
    ];
    let columns = vec![
        column("verdict", "Mismatch", Kind::Text),
        column("order", "Order", Kind::Text),
        column("payment_id", "PayHere payment", Kind::Text),
        column("payment_status", "Payment", Kind::Text),
        column("paid_minor", "Paid (Rs.)", Kind::Money),
        column("due_minor", "Order total (Rs.)", Kind::Money),
        column("order_status", "Order status", Kind::Text),
        column("at", "When (Colombo)", Kind::Text),
    ];
    let cells = cells(&mismatches, &columns);
    Ok(("PayHere payments against orders".into(), columns, cells, summary))
}

#[derive(FromRow, Serialize)]
struct CodRow {
    courier: String,
    delivered: i64,
    collected_minor: i64,
    remitted_minor: i64,
    owed_minor: i64,
    oldest_days: Option<i64>,
}

async fn cod_owed(session: &mut Session) -> Result<Parts, Error> {
    let rows: Vec<CodRow> = session
        .rows(
            "SELECT courier, COUNT(*) AS delivered, CAST(SUM(cod_minor) AS SIGNED) AS collected_minor,
                CAST(SUM(remitted_minor) AS SIGNED) AS remitted_minor,
                CAST(SUM(cod_minor - remitted_minor) AS SIGNED) AS owed_minor,
                TIMESTAMPDIFF(DAY, MIN(CASE WHEN remitted_minor < cod_minor THEN delivered_at END),
                    UTC_TIMESTAMP()) AS oldest_days
             FROM {p}_payments.shipments
             WHERE delivered_at IS NOT NULL AND cod_minor > 0
             GROUP BY courier ORDER BY owed_minor DESC, courier",
            (),
        )
        .await?;
    let owed: i64 = rows.iter().map(|r| r.owed_minor).sum();
    let columns = vec![
        column("courier", "Courier", Kind::Text),
        column("delivered", "COD parcels delivered", Kind::Count),
        column("collected_minor", "Collected (Rs.)", Kind::Money),
        column("remitted_minor", "Paid over (Rs.)", Kind::Money),
        column("owed_minor", "Owed (Rs.)", Kind::Money),
        column("oldest_days", "Oldest unpaid (days)", Kind::Count),
    ];
    let cells = cells(&rows, &columns);
    Ok((
        "Cash on delivery owed by couriers".into(),
        columns,
        cells,
        vec![Figure::new("owed_minor", "Owed in all", Cell::Int(owed), Kind::Money)],
    ))
}

#[derive(FromRow, Serialize)]
struct UndoneRow {
    kind: String,
    reason: String,
    count: i64,
    amount_minor: i64,
    pending: i64,
}

async fn refunds(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    let rows: Vec<UndoneRow> = session
        .rows(
            "SELECT 'refund' AS kind, reason, COUNT(*) AS count,
                CAST(SUM(IF(status = 'done', amount_minor, 0)) AS SIGNED) AS amount_minor,
                CAST(SUM(status <> 'done') AS SIGNED) AS pending
             FROM {p}_payments.refunds WHERE created_at >= ? AND created_at < ?
             GROUP BY reason
             UNION ALL
             SELECT IF(h.to_status = 'cancelled', 'cancellation', 'return') AS kind,
                CASE
                    WHEN h.actor = 'customer' THEN 'cancelled by the customer'
                    WHEN h.actor = 'system:payment-window' THEN 'not paid in time'
                    WHEN h.actor LIKE 'staff:%' THEN IF(h.to_status = 'cancelled', 'cancelled by staff', 'returned, recorded by staff')
                    WHEN h.actor LIKE 'system:%' THEN CONCAT(IF(h.to_status = 'cancelled', 'cancelled: ', 'returned by courier: '), SUBSTRING(h.actor, 8))
                    ELSE h.actor
                END AS reason,
                COUNT(*) AS count, CAST(SUM(o.total_minor) AS SIGNED) AS amount_minor, 0 AS pending
             FROM {p}_orders.order_status_history h JOIN {p}_orders.orders o ON o.id = h.order_id
             WHERE h.to_status IN ('cancelled', 'returned') AND h.created_at >= ? AND h.created_at < ?
             GROUP BY kind, reason
             ORDER BY kind DESC, count DESC, reason",
            (from, to, from, to),
        )
        .await?;
    let total = |kind: &str| rows.iter().filter(|r| r.kind == kind).map(|r| r.amount_minor).sum::<i64>();
    let summary = vec![
        Figure::new("refunded_minor", "Refunded", Cell::Int(total("refund")), Kind::Money),
        Figure::new(
            "cancelled_minor",
            "Cancelled orders' value",
            Cell::Int(total("cancellation")),
            Kind::Money,
        ),
        Figure::new(
            "returned_minor",
            "Returned orders' value",
            Cell::Int(total("return")),
            Kind::Money,
        ),
    ];
    let columns = vec![
        column("kind", "Kind", Kind::Text),
        column("reason", "Reason", Kind::Text),
        column("count", "Count", Kind::Count),
        column("amount_minor", "Amount (Rs.)", Kind::Money),
        column("pending", "Refunds not yet done", Kind::Count),
    ];
    let cells = cells(&rows, &columns);
    Ok(("Refunds, cancellations and returns".into(), columns, cells, summary))
}

#[derive(FromRow, Serialize)]
struct PromotionRow {
    promotion: String,
    /// `automatic`, or how many codes were used.
    how: String,
    uses: i64,
    customers: i64,
    cost_minor: i64,
    revenue_minor: i64,
    budget_minor: Option<i64>,
}

async fn promotions(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    let rows: Vec<PromotionRow> = session
        .rows(
            "SELECT MAX(pr.name) AS promotion,
                IF(MAX(pr.automatic), 'automatic',
                   CONCAT(COUNT(DISTINCT r.code), IF(COUNT(DISTINCT r.code) = 1, ' code', ' codes'))) AS how,
                COUNT(*) AS uses, COUNT(DISTINCT r.customer_id) AS customers,
                CAST(SUM(r.amount_minor) AS SIGNED) AS cost_minor,
                CAST(COALESCE(SUM(o.total_minor), 0) AS SIGNED) AS revenue_minor, MAX(pr.budget_minor) AS budget_minor
             FROM {p}_promotions.redemptions r
             JOIN {p}_promotions.promotions pr ON pr.id = r.promotion_id
             LEFT JOIN {p}_orders.orders o ON o.id = r.order_id
             WHERE r.released_at IS NULL AND r.created_at >= ? AND r.created_at < ?
             GROUP BY r.promotion_id ORDER BY cost_minor DESC, promotion",
            (from, to),
        )
        .await?;
    let cost: i64 = rows.iter().map(|r| r.cost_minor).sum();
    let columns = vec![
        column("promotion", "Promotion", Kind::Text),
        column("how", "How", Kind::Text),
        column("uses", "Orders", Kind::Count),
        column("customers", "Customers", Kind::Count),
        column("cost_minor", "Discount given (Rs.)", Kind::Money),
        column("revenue_minor", "Those orders' revenue (Rs.)", Kind::Money),
        column("budget_minor", "Budget (Rs.)", Kind::Money),
    ];
    let cells = cells(&rows, &columns);
    Ok((
        "Promotion usage and cost".into(),
        columns,
        cells,
        vec![Figure::new("cost_minor", "Discounts given", Cell::Int(cost), Kind::Money)],
    ))
}

/// Each customer's first sale ever, for "new" against "returning".
const FIRST_ORDERS: &str = "SELECT customer_id, MIN(created_at) AS first_at FROM {p}_orders.orders o
     WHERE o.status NOT IN ('pending_payment', 'cancelled') GROUP BY customer_id";

#[derive(FromRow, Serialize)]
struct CustomersRow {
    month: String,
    customers: i64,
    new_customers: i64,
    returning_customers: i64,
    returning_percent: f64,
    new_orders: i64,
    returning_orders: i64,
    new_revenue_minor: i64,
    returning_revenue_minor: i64,
}

async fn customers(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    let rows: Vec<CustomersRow> = session
        .rows(
            &format!(
                "SELECT month, COUNT(DISTINCT customer_id) AS customers,
                    COUNT(DISTINCT IF(is_new, customer_id, NULL)) AS new_customers,
                    COUNT(DISTINCT IF(is_new, NULL, customer_id)) AS returning_customers,
                    100E0 * COUNT(DISTINCT IF(is_new, NULL, customer_id)) / COUNT(DISTINCT customer_id) AS returning_percent,
                    CAST(SUM(is_new) AS SIGNED) AS new_orders, CAST(SUM(NOT is_new) AS SIGNED) AS returning_orders,
                    CAST(SUM(IF(is_new, total, 0)) AS SIGNED) AS new_revenue_minor,
                    CAST(SUM(IF(is_new, 0, total)) AS SIGNED) AS returning_revenue_minor
                 FROM (SELECT DATE_FORMAT(o.created_at + INTERVAL 330 MINUTE, '%Y-%m') AS month, o.customer_id,
                         o.total_minor AS total,
                         DATE_FORMAT(f.first_at + INTERVAL 330 MINUTE, '%Y-%m')
                             = DATE_FORMAT(o.created_at + INTERVAL 330 MINUTE, '%Y-%m') AS is_new
                       FROM {{p}}_orders.orders o JOIN ({FIRST_ORDERS}) f ON f.customer_id = o.customer_id
                       WHERE o.created_at >= ? AND o.created_at < ? AND {SOLD}) x
                 GROUP BY month ORDER BY month"
            ),
            (from, to),
        )
        .await?;
    let columns = vec![
        column("month", "Month", Kind::Text),
        column("customers", "Customers", Kind::Count),
        column("new_customers", "New", Kind::Count),
        column("returning_customers", "Returning", Kind::Count),
        column("returning_percent", "Returning %", Kind::Percent),
        column("new_orders", "Orders by new", Kind::Count),
        column("returning_orders", "Orders by returning", Kind::Count),
        column("new_revenue_minor", "Revenue from new (Rs.)", Kind::Money),
        column("returning_revenue_minor", "Revenue from returning (Rs.)", Kind::Money),
    ];
    let cells = cells(&rows, &columns);
    Ok(("New and returning customers by month".into(), columns, cells, vec![]))
}

/// How many months after the first a cohort is followed.
pub const COHORT_MONTHS: i64 = 6;

#[derive(FromRow)]
struct CohortRow {
    cohort: String,
    months_later: i64,
    customers: i64,
}

async fn cohorts(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    let rows: Vec<CohortRow> = session
        .rows(
            &format!(
                "SELECT DATE_FORMAT(f.first_at + INTERVAL 330 MINUTE, '%Y-%m') AS cohort,
                    CAST(PERIOD_DIFF(DATE_FORMAT(o.created_at + INTERVAL 330 MINUTE, '%Y%m'),
                                     DATE_FORMAT(f.first_at + INTERVAL 330 MINUTE, '%Y%m')) AS SIGNED) AS months_later,
                    COUNT(DISTINCT o.customer_id) AS customers
                 FROM ({FIRST_ORDERS}) f JOIN {{p}}_orders.orders o ON o.customer_id = f.customer_id
                 WHERE f.first_at >= ? AND f.first_at < ? AND {SOLD}
                 GROUP BY cohort, months_later HAVING months_later <= {COHORT_MONTHS} ORDER BY cohort, months_later"
            ),
            (from, to),
        )
        .await?;
    let mut cohorts: BTreeMap<String, [i64; COHORT_MONTHS as usize + 1]> = BTreeMap::new();
    for r in rows {
        if let Ok(offset) = usize::try_from(r.months_later) {
            cohorts.entry(r.cohort).or_default()[offset] = r.customers;
        }
    }
    const LATER: [(&str, &str); COHORT_MONTHS as usize] = [
        ("month_1_percent", "Month +1 %"),
        ("month_2_percent", "Month +2 %"),
        ("month_3_percent", "Month +3 %"),
        ("month_4_percent", "Month +4 %"),
        ("month_5_percent", "Month +5 %"),
        ("month_6_percent", "Month +6 %"),
    ];
    let mut columns = vec![
        column("cohort", "First bought in", Kind::Text),
        column("customers", "Customers", Kind::Count),
    ];
    columns.extend(LATER.iter().map(|(key, label)| column(key, label, Kind::Percent)));
    // Months that have not come yet are left empty, not shown as nobody coming back.
    let month_number = |ym: &str| -> Option<i64> {
        let (y, m) = ym.split_once('-')?;
        Some(y.parse::<i64>().ok()? * 12 + m.parse::<i64>().ok()?)
    };
    let today = chrono::Utc::now().with_timezone(&pola_core::clock::colombo());
    let this_month = i64::from(today.year()) * 12 + i64::from(today.month());
    let cells = cohorts
        .into_iter()
        .map(|(cohort, counts)| {
            let start = month_number(&cohort).unwrap_or(this_month);
            let mut row: Vec<Cell> = vec![cohort.into(), counts[0].into()];
            row.extend(
                counts[1..]
                    .iter()
                    .zip(1..)
                    .map(|(&n, later)| match start + later <= this_month {
                        true => Cell::from(share(n, counts[0])),
                        false => Cell::Empty,
                    }),
            );
            row
        })
        .collect();
    Ok(("Monthly cohorts: customers buying again".into(), columns, cells, vec![]))
}

#[derive(FromRow, Serialize)]
struct CartsRow {
    day: String,
    carts: i64,
    signed_in: i64,
    units: i64,
    value_minor: i64,
}

async fn abandoned_carts(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    let rows: Vec<CartsRow> = session
        .rows(
            "SELECT DATE_FORMAT(c.updated_at + INTERVAL 330 MINUTE, '%Y-%m-%d') AS day,
                COUNT(DISTINCT c.id) AS carts,
                COUNT(DISTINCT IF(c.customer_id IS NULL, NULL, c.id)) AS signed_in,
                CAST(SUM(l.quantity) AS SIGNED) AS units,
                CAST(COALESCE(SUM(l.quantity * v.price_minor), 0) AS SIGNED) AS value_minor
             FROM {p}_cart.carts c
             JOIN {p}_cart.cart_lines l ON l.cart_id = c.id
             LEFT JOIN {p}_catalog.variants v ON v.id = l.variant_id
             WHERE c.updated_at >= ? AND c.updated_at < ?
                AND c.updated_at < UTC_TIMESTAMP() - INTERVAL ? HOUR
             GROUP BY day ORDER BY day",
            (from, to, request.idle_hours),
        )
        .await?;
    let carts: i64 = rows.iter().map(|r| r.carts).sum();
    let value: i64 = rows.iter().map(|r| r.value_minor).sum();
    let columns = vec![
        column("day", "Last touched", Kind::Text),
        column("carts", "Carts", Kind::Count),
        column("signed_in", "Of signed-in customers", Kind::Count),
        column("units", "Units", Kind::Count),
        column("value_minor", "Value at today's prices (Rs.)", Kind::Money),
    ];
    let cells = cells(&rows, &columns);
    Ok((
        format!("Carts left for {} hours or more", request.idle_hours),
        columns,
        cells,
        vec![
            Figure::new("carts", "Carts left", Cell::Int(carts), Kind::Count),
            Figure::new("value_minor", "Value", Cell::Int(value), Kind::Money),
        ],
    ))
}

#[derive(FromRow, Serialize)]
struct SupportRow {
    category: String,
    tickets: i64,
    first_response_target_hours: f64,
    first_response_hours: Option<f64>,
    answered_in_time_percent: Option<f64>,
    resolution_target_hours: f64,
    resolution_hours: Option<f64>,
    resolved_in_time_percent: Option<f64>,
    overdue_open: i64,
}

async fn support(session: &mut Session, request: &Request) -> Result<Parts, Error> {
    let (from, to) = request.bounds();
    // Time on a resolution clock leaves out the pauses before it (waiting on the customer);
    // nothing pauses before the first answer, since only an answer can make a ticket wait.
    let rows: Vec<SupportRow> = session
        .rows(
            "SELECT category, COUNT(*) AS tickets,
                100E0 * SUM(first_responded_at <= first_response_due_at) / SUM(first_responded_at IS NOT NULL)
                    AS answered_in_time_percent,
                CAST(AVG(TIMESTAMPDIFF(SECOND, created_at, first_responded_at)) / 3600 AS DOUBLE) AS first_response_hours,
                CAST(MAX(TIMESTAMPDIFF(SECOND, created_at, first_response_due_at)) / 3600 AS DOUBLE) AS first_response_target_hours,
                100E0 * SUM(resolved_at <= resolution_due_at + INTERVAL paused_secs SECOND) / SUM(resolved_at IS NOT NULL)
                    AS resolved_in_time_percent,
                CAST(AVG(TIMESTAMPDIFF(SECOND, created_at, resolved_at) - IF(resolved_at IS NULL, NULL, paused_secs)) / 3600 AS DOUBLE) AS resolution_hours,
                CAST(MAX(TIMESTAMPDIFF(SECOND, created_at, resolution_due_at)) / 3600 AS DOUBLE) AS resolution_target_hours,
                CAST(SUM(state IN ('new', 'open') AND UTC_TIMESTAMP() > resolution_due_at + INTERVAL paused_secs SECOND) AS SIGNED) AS overdue_open
             FROM {p}_support.tickets WHERE created_at >= ? AND created_at < ?
             GROUP BY category ORDER BY category",
            (from, to),
        )
        .await?;
    let columns = vec![
        column("category", "Category", Kind::Text),
        column("tickets", "Tickets", Kind::Count),
        column("first_response_target_hours", "First answer target (h)", Kind::Hours),
        column("first_response_hours", "First answer, average (h)", Kind::Hours),
        column("answered_in_time_percent", "Answered in time %", Kind::Percent),
        column("resolution_target_hours", "Resolution target (h)", Kind::Hours),
        column("resolution_hours", "Resolution, average (h)", Kind::Hours),
        column("resolved_in_time_percent", "Resolved in time %", Kind::Percent),
        column("overdue_open", "Open past target", Kind::Count),
    ];
    let tickets: i64 = rows.iter().map(|r| r.tickets).sum();
    let cells = cells(&rows, &columns);
    Ok((
        "Support: first answers and resolutions against their targets".into(),
        columns,
        cells,
        vec![Figure::new("tickets", "Tickets", Cell::Int(tickets), Kind::Count)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_is_found_by_its_name() {
        for report in Report::ALL {
            assert_eq!(report.name().parse::<Report>(), Ok(report));
            assert!(report.roles().contains(&Role::Admin));
        }
        assert!(
            "everything"
                .parse::<Report>()
                .expect_err("no such report")
                .contains("sales, top-products")
        );
    }

    #[test]
    fn a_period_covers_colombo_days() {
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("a date");
        let request = Request::new(
            Report::Sales,
            Period {
                from: day("2026-04-13"),
                to: day("2026-04-14"),
            },
        );
        let (from, to) = request.bounds();
        assert_eq!(from.to_string(), "2026-04-12 18:30:00");
        assert_eq!(to.to_string(), "2026-04-14 18:30:00");
    }

    #[test]
    fn requests_out_of_bounds_are_refused() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
        let mut request = Request::new(Report::Sales, Period { from: day, to: day });
        assert!(request.check().is_ok());
        request.period.to = day - chrono::Duration::days(1);
        assert!(request.check().is_err());
        request.period.to = day;
        request.limit = 0;
        assert!(request.check().is_err());
    }
}
