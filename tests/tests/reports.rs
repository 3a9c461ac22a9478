//! Staff reports on both sites of the `local` inventory: the demo history seeded at DC, every
//! report read by `pola report` from DR (the replica) as the read-only reporting user, and each
//! figure worked out again here from the replica's raw rows, in Rust rather than SQL.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    process::Output,
};

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use pola_e2e::{ONE_AT_A_TIME, Site, Sites, root};
use serde_json::{Value, json};
use sqlx::{FromRow, MySqlPool};
use uuid::Uuid;

/// Colombo's wall clock for a stored UTC time.
fn local(at: NaiveDateTime) -> NaiveDateTime {
    at + Duration::minutes(330)
}

fn share(part: i64, whole: i64) -> f64 {
    ((part as f64 * 100.0 / whole as f64) * 10.0).round() / 10.0
}

fn sold(status: &str) -> bool {
    !matches!(status, "pending_payment" | "cancelled")
}

#[derive(FromRow)]
struct Order {
    id: Uuid,
    customer_id: Uuid,
    status: String,
    total_minor: i64,
    discount_minor: i64,
    delivery_fee_minor: i64,
    district: Option<String>,
    number: String,
    created_at: NaiveDateTime,
}

#[derive(FromRow)]
struct Line {
    order_id: Uuid,
    product_id: Uuid,
    quantity: i32,
    line_total_minor: i64,
    discount_minor: i64,
    category: String,
}

#[derive(FromRow)]
struct Payment {
    order_id: Uuid,
    method: String,
    status: String,
    amount_minor: i64,
    outcome: String,
    created_at: NaiveDateTime,
}

#[derive(FromRow)]
struct Shipment {
    courier: String,
    cod_minor: i64,
    delivered_at: Option<NaiveDateTime>,
    remitted_minor: i64,
}

#[derive(FromRow)]
struct Refund {
    reason: String,
    status: String,
    amount_minor: i64,
}

#[derive(FromRow)]
struct Change {
    order_id: Uuid,
    to_status: String,
    actor: String,
}

#[derive(FromRow)]
struct Redemption {
    order_id: Uuid,
    name: String,
    customer_id: Uuid,
    amount_minor: i64,
}

#[derive(FromRow)]
struct Ticket {
    category: String,
    first_response_due_at: NaiveDateTime,
    first_responded_at: Option<NaiveDateTime>,
    resolution_due_at: NaiveDateTime,
    paused_secs: i64,
    resolved_at: Option<NaiveDateTime>,
}

#[derive(FromRow)]
struct CartLine {
    cart_id: Uuid,
    updated_at: NaiveDateTime,
    quantity: i32,
    price_minor: i64,
}

#[derive(FromRow)]
struct Stock {
    sku: String,
    location: String,
    on_hand: i32,
    reserved: i32,
    price_minor: i64,
    variant_active: bool,
    product_active: bool,
}

/// The replica's raw rows, read as root.
struct Rows {
    orders: Vec<Order>,
    lines: Vec<Line>,
    methods: HashMap<Uuid, String>,
    payments: Vec<Payment>,
    shipments: Vec<Shipment>,
    refunds: Vec<Refund>,
    changes: Vec<Change>,
    redemptions: Vec<Redemption>,
    tickets: Vec<Ticket>,
    cart_lines: Vec<CartLine>,
    stock: Vec<Stock>,
}

async fn rows(db: &MySqlPool) -> Rows {
    async fn all<T: for<'r> FromRow<'r, sqlx::mysql::MySqlRow> + Send + Unpin>(db: &MySqlPool, sql: &str) -> Vec<T> {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
    let methods: Vec<(Uuid, String)> = all(db, "SELECT order_id, CAST(method AS CHAR) FROM pola_payments.checkouts").await;
    Rows {
        orders: all(
            db,
            "SELECT id, customer_id, CAST(status AS CHAR) AS status, total_minor, discount_minor, delivery_fee_minor,
                    district, number, created_at FROM pola_orders.orders",
        )
        .await,
        lines: all(
            db,
            "SELECT l.order_id, l.product_id, l.quantity, l.line_total_minor, l.discount_minor, c.name AS category
             FROM pola_orders.order_lines l JOIN pola_catalog.products p ON p.id = l.product_id
             JOIN pola_catalog.categories c ON c.id = p.category_id",
        )
        .await,
        methods: methods.into_iter().collect(),
        payments: all(
            db,
            "SELECT order_id, CAST(method AS CHAR) AS method, CAST(status AS CHAR) AS status, amount_minor,
                    CAST(outcome AS CHAR) AS outcome, created_at FROM pola_payments.payments",
        )
        .await,
        shipments: all(
            db,
            "SELECT courier, cod_minor, delivered_at, remitted_minor FROM pola_payments.shipments",
        )
        .await,
        refunds: all(
            db,
            "SELECT reason, CAST(status AS CHAR) AS status, amount_minor FROM pola_payments.refunds",
        )
        .await,
        changes: all(db, "SELECT order_id, to_status, actor FROM pola_orders.order_status_history").await,
        redemptions: all(
            db,
            "SELECT r.order_id, p.name, r.customer_id, r.amount_minor FROM pola_promotions.redemptions r
             JOIN pola_promotions.promotions p ON p.id = r.promotion_id WHERE r.released_at IS NULL",
        )
        .await,
        tickets: all(
            db,
            "SELECT category, first_response_due_at, first_responded_at, resolution_due_at, paused_secs, resolved_at
             FROM pola_support.tickets",
        )
        .await,
        cart_lines: all(
            db,
            "SELECT l.cart_id, c.updated_at, l.quantity, v.price_minor FROM pola_cart.cart_lines l
             JOIN pola_cart.carts c ON c.id = l.cart_id JOIN pola_catalog.variants v ON v.id = l.variant_id",
        )
        .await,
        stock: all(
            db,
            "SELECT v.sku, s.location, s.on_hand, s.reserved, v.price_minor, v.status = 'active' AS variant_active,
                    p.status = 'active' AS product_active
             FROM pola_inventory.stock s JOIN pola_catalog.variants v ON v.id = s.variant_id
             JOIN pola_catalog.products p ON p.id = v.product_id",
        )
        .await,
    }
}

/// `pola report NAME ARGS --format json` with DC's configuration (which names both sites).
async fn report(sites: &Sites, name: &str, args: &[&str]) -> Value {
    let output = pola(&sites.dir.join("dc/pola.toml"), name, args).await;
    assert!(
        output.status.success(),
        "pola report {name} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(json["site"], "dr", "{name} reads the replica");
    assert_eq!(json["site_role"], "replica");
    assert!(json["replica_lag_secs"].is_u64(), "{name}: {}", json["freshness"]);
    json
}

async fn pola(config: &std::path::Path, name: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(root().join("target/debug/pola"))
        .arg("--config")
        .arg(config)
        .args(["report", name, "--format", "json"])
        .args(args)
        .output()
        .await
        .expect("pola report runs")
}

/// A report's rows as (first column's text → the row).
fn by_label(json: &Value, label: &str) -> BTreeMap<String, Value> {
    json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r[label].as_str().expect("a label").to_owned(), r.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_report_read_on_the_replica_matches_figures_worked_out_from_its_rows() {
    let _one = ONE_AT_A_TIME.lock().await;
    let sites = Sites::up_with("reports", json!({"pola_seed_products": 120, "pola_seed_orders": 4000})).await;
    let (dc, dr) = (sites.db(Site::Dc).await, sites.db(Site::Dr).await);
    let position: String = sqlx::query_scalar("SELECT @@gtid_binlog_pos")
        .fetch_one(&dc)
        .await
        .expect("DC's GTID");
    let waited: i64 = sqlx::query_scalar("SELECT MASTER_GTID_WAIT(?, 120)")
        .bind(&position)
        .fetch_one(&dr)
        .await
        .expect("DR waits");
    assert_eq!(waited, 0, "DR applied DC's history ({position}) within 120 s");
    let data = rows(&dr).await;
    assert!(
        data.orders.len() >= 3_900,
        "the history is seeded: {} orders",
        data.orders.len()
    );

    let today = Utc::now().with_timezone(&pola_core::clock::colombo()).date_naive();
    let from = today - Duration::days(400);
    let period = ["--from".to_owned(), from.to_string(), "--to".to_owned(), today.to_string()];
    let period: Vec<&str> = period.iter().map(String::as_str).collect();
    let with = |more: &[&'static str]| -> Vec<&str> { period.iter().copied().chain(more.iter().copied()).collect() };
    let orders: HashMap<Uuid, &Order> = data.orders.iter().map(|o| (o.id, o)).collect();
    let sold_orders: Vec<&Order> = data.orders.iter().filter(|o| sold(&o.status)).collect();

    // Sales by day, week, month, district and payment method: orders and revenue per group.
    let key_of = |o: &Order, by: &str| -> String {
        let at = local(o.created_at);
        match by {
            "day" => at.format("%Y-%m-%d").to_string(),
            "week" => (at.date() - Duration::days(i64::from(at.weekday().num_days_from_monday())))
                .format("%Y-%m-%d")
                .to_string(),
            "month" => at.format("%Y-%m").to_string(),
            "district" => o.district.clone().unwrap_or_else(|| "unknown".into()),
            _ => data.methods.get(&o.id).cloned().unwrap_or_else(|| "unknown".into()),
        }
    };
    for by in ["day", "week", "month", "district", "method"] {
        let json = report(&sites, "sales", &with(&["--by", by])).await;
        let mut expected: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
        for o in &sold_orders {
            let e = expected.entry(key_of(o, by)).or_default();
            *e = (
                e.0 + 1,
                e.1 + o.total_minor,
                e.2 - o.discount_minor,
                e.3 + o.delivery_fee_minor,
            );
        }
        let got = by_label(&json, by);
        assert_eq!(got.len(), expected.len(), "sales by {by}: groups");
        for (label, (orders, revenue, discounts, delivery)) in &expected {
            let row = &got[label];
            assert_eq!(
                (
                    &row["orders"],
                    &row["revenue_minor"],
                    &row["discounts_minor"],
                    &row["delivery_minor"]
                ),
                (&json!(orders), &json!(revenue), &json!(discounts), &json!(delivery)),
                "sales by {by}, {label}"
            );
        }
        assert_eq!(
            json["summary"]["orders"],
            json!(sold_orders.len()),
            "sales by {by}: orders in all"
        );
    }
    let expected_by_month: BTreeMap<String, i64> = sold_orders.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(key_of(o, "month")).or_default() += o.total_minor;
        m
    });
    let april = expected_by_month.iter().find(|(m, _)| m.ends_with("-04")).map(|(_, v)| *v);
    let june = expected_by_month.iter().find(|(m, _)| m.ends_with("-06")).map(|(_, v)| *v);
    assert!(april > june, "Avurudu sells more than June: {april:?} against {june:?}");

    // Sales by category: lines after their discounts.
    let json = report(&sites, "sales", &with(&["--by", "category"])).await;
    let mut expected: BTreeMap<String, (HashSet<Uuid>, i64, i64)> = BTreeMap::new();
    for l in data.lines.iter().filter(|l| sold(&orders[&l.order_id].status)) {
        let e = expected.entry(l.category.clone()).or_default();
        e.0.insert(l.order_id);
        e.1 += i64::from(l.quantity);
        e.2 += l.line_total_minor + l.discount_minor;
    }
    let got = by_label(&json, "category");
    assert_eq!(got.len(), expected.len(), "sales by category: groups");
    for (category, (ids, units, revenue)) in &expected {
        let row = &got[category];
        assert_eq!(
            (&row["orders"], &row["units"], &row["revenue_minor"]),
            (&json!(ids.len()), &json!(units), &json!(revenue)),
            "sales of {category}"
        );
    }

    // Top products: the ten that brought most after discounts.
    let json = report(&sites, "top-products", &with(&["--limit", "10"])).await;
    let mut revenue: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for l in data.lines.iter().filter(|l| sold(&orders[&l.order_id].status)) {
        let e = revenue.entry(l.product_id).or_default();
        e.0 += i64::from(l.quantity);
        e.1 += l.line_total_minor + l.discount_minor;
    }
    let mut top: Vec<(Uuid, (i64, i64))> = revenue.into_iter().collect();
    top.sort_by(|a, b| {
        b.1.1
            .cmp(&a.1.1)
            .then(a.0.simple().to_string().cmp(&b.0.simple().to_string()))
    });
    let got: Vec<(String, i64, i64)> = json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["product_id"].as_str().expect("an id").to_owned(),
                r["units"].as_i64().expect("units"),
                r["revenue_minor"].as_i64().expect("revenue"),
            )
        })
        .collect();
    let expected: Vec<(String, i64, i64)> = top.iter().take(10).map(|(id, (u, r))| (id.to_string(), *u, *r)).collect();
    assert_eq!(got, expected, "top products");

    // Low stock (at most 5 to sell) and stock value per location.
    let json = report(&sites, "low-stock", &[]).await;
    let live = || data.stock.iter().filter(|s| s.variant_active && s.product_active);
    let mut expected: Vec<(String, String, i64)> = live()
        .filter(|s| s.on_hand - s.reserved <= 5)
        .map(|s| (s.sku.clone(), s.location.clone(), i64::from(s.on_hand - s.reserved)))
        .collect();
    let mut got: Vec<(String, String, i64)> = json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["sku"].as_str().expect("sku").to_owned(),
                r["location"].as_str().expect("location").to_owned(),
                r["available"].as_i64().expect("available"),
            )
        })
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "low stock");
    let json = report(&sites, "stock-value", &[]).await;
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for s in data.stock.iter().filter(|s| s.variant_active) {
        *expected.entry(s.location.clone()).or_default() += i64::from(s.on_hand) * s.price_minor;
    }
    let got: BTreeMap<String, i64> = by_label(&json, "location")
        .into_iter()
        .map(|(l, r)| (l, r["value_minor"].as_i64().expect("a value")))
        .collect();
    assert_eq!(got, expected, "stock value");

    // PayHere reconciliation: every payment judged against its order.
    let json = report(&sites, "payments", &period).await;
    let succeeded_for = |order: Uuid| {
        data.payments
            .iter()
            .filter(|p| p.order_id == order && p.status == "succeeded")
            .count()
    };
    let mut verdicts: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for p in data.payments.iter().filter(|p| p.method == "payhere") {
        let order = orders.get(&p.order_id);
        let verdict = match order {
            None => "no such order",
            Some(_) if p.status == "charged_back" => "charged back",
            Some(_) if p.status != "succeeded" => "not paid",
            Some(o) if p.amount_minor != o.total_minor => "amount differs",
            Some(o) if !sold(&o.status) && p.outcome != "refunded" => "paid, order not taken",
            Some(o) if succeeded_for(o.id) > 1 => "paid twice",
            Some(_) => "matched",
        };
        let e = verdicts.entry(verdict).or_default();
        *e = (e.0 + 1, e.1 + p.amount_minor);
    }
    let paid_statuses = [
        "paid",
        "packed",
        "shipped",
        "delivered",
        "delivery_failed",
        "returned",
        "refunded",
    ];
    let unpaid = data
        .orders
        .iter()
        .filter(|o| data.methods.get(&o.id).is_some_and(|m| m == "payhere") && paid_statuses.contains(&o.status.as_str()))
        .filter(|o| {
            !data
                .payments
                .iter()
                .any(|p| p.order_id == o.id && (p.status == "succeeded" || p.status == "charged_back"))
        })
        .count() as i64;
    let mismatches = verdicts
        .iter()
        .filter(|(v, _)| !matches!(**v, "matched" | "not paid"))
        .map(|(_, (n, _))| n)
        .sum::<i64>()
        + unpaid;
    assert_eq!(
        json["summary"]["matched_payments"],
        json!(verdicts["matched"].0),
        "matched PayHere payments"
    );
    assert_eq!(json["summary"]["matched_minor"], json!(verdicts["matched"].1));
    assert_eq!(json["summary"]["mismatches"], json!(mismatches));
    assert!(mismatches > 0, "the history has charge-backs and late payments to find");
    let listed: HashSet<String> = json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["order"].as_str().expect("an order number").to_owned())
        .collect();
    for p in data
        .payments
        .iter()
        .filter(|p| p.method == "payhere" && p.status == "charged_back")
    {
        assert!(listed.contains(&orders[&p.order_id].number), "a charge-back is listed");
    }
    // Payments were made within the period: the first ones are on the earliest orders' days.
    assert!(data.payments.iter().all(|p| local(p.created_at).date() >= from));

    // Cash on delivery owed by each courier.
    let json = report(&sites, "cod-owed", &[]).await;
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for s in data.shipments.iter().filter(|s| s.delivered_at.is_some() && s.cod_minor > 0) {
        let e = expected.entry(s.courier.clone()).or_default();
        *e = (e.0 + s.cod_minor, e.1 + s.cod_minor - s.remitted_minor);
    }
    let got: BTreeMap<String, (i64, i64)> = by_label(&json, "courier")
        .into_iter()
        .map(|(c, r)| {
            (
                c,
                (
                    r["collected_minor"].as_i64().expect("collected"),
                    r["owed_minor"].as_i64().expect("owed"),
                ),
            )
        })
        .collect();
    assert_eq!(got, expected, "COD owed");

    // Refunds by reason, cancellations and returns by cause.
    let json = report(&sites, "refunds", &period).await;
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for r in &data.refunds {
        let e = expected.entry(("refund".into(), r.reason.clone())).or_default();
        *e = (e.0 + 1, e.1 + if r.status == "done" { r.amount_minor } else { 0 });
    }
    for c in data
        .changes
        .iter()
        .filter(|c| c.to_status == "cancelled" || c.to_status == "returned")
    {
        let cancelled = c.to_status == "cancelled";
        let cause = match c.actor.as_str() {
            "customer" => "cancelled by the customer".to_owned(),
            "system:payment-window" => "not paid in time".to_owned(),
            a if a.starts_with("staff:") && cancelled => "cancelled by staff".to_owned(),
            a if a.starts_with("staff:") => "returned, recorded by staff".to_owned(),
            a if cancelled => format!("cancelled: {}", &a[7..]),
            a => format!("returned by courier: {}", &a[7..]),
        };
        let kind = if cancelled { "cancellation" } else { "return" };
        let e = expected.entry((kind.into(), cause)).or_default();
        *e = (e.0 + 1, e.1 + orders[&c.order_id].total_minor);
    }
    let got: BTreeMap<(String, String), (i64, i64)> = json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                (
                    r["kind"].as_str().expect("a kind").to_owned(),
                    r["reason"].as_str().expect("a reason").to_owned(),
                ),
                (
                    r["count"].as_i64().expect("count"),
                    r["amount_minor"].as_i64().expect("amount"),
                ),
            )
        })
        .collect();
    assert_eq!(got, expected, "refunds, cancellations and returns");

    // Promotions: uses and the discount they gave.
    let json = report(&sites, "promotions", &period).await;
    let mut expected: BTreeMap<String, (i64, HashSet<Uuid>, i64)> = BTreeMap::new();
    for r in &data.redemptions {
        let e = expected.entry(r.name.clone()).or_default();
        e.0 += 1;
        e.1.insert(r.customer_id);
        e.2 += r.amount_minor;
        assert!(
            orders[&r.order_id].discount_minor == -r.amount_minor,
            "a use's discount is its order's"
        );
    }
    let got = by_label(&json, "promotion");
    assert_eq!(got.len(), expected.len(), "promotions used");
    for (name, (uses, customers, cost)) in &expected {
        let row = &got[name];
        assert_eq!(
            (&row["uses"], &row["customers"], &row["cost_minor"]),
            (&json!(uses), &json!(customers.len()), &json!(cost)),
            "{name}"
        );
    }

    // New and returning customers by month, and cohorts.
    let mut first: HashMap<Uuid, NaiveDateTime> = HashMap::new();
    for o in &sold_orders {
        let e = first.entry(o.customer_id).or_insert(o.created_at);
        *e = (*e).min(o.created_at);
    }
    let month = |at: NaiveDateTime| local(at).format("%Y-%m").to_string();
    let json = report(&sites, "customers", &period).await;
    let mut expected: BTreeMap<String, (HashSet<Uuid>, HashSet<Uuid>)> = BTreeMap::new();
    for o in &sold_orders {
        let e = expected.entry(month(o.created_at)).or_default();
        e.0.insert(o.customer_id);
        if month(first[&o.customer_id]) == month(o.created_at) {
            e.1.insert(o.customer_id);
        }
    }
    let got = by_label(&json, "month");
    assert_eq!(got.len(), expected.len());
    for (m, (all, new)) in &expected {
        assert_eq!(
            (&got[m]["customers"], &got[m]["new_customers"], &got[m]["returning_customers"]),
            (&json!(all.len()), &json!(new.len()), &json!(all.len() - new.len())),
            "customers in {m}"
        );
    }
    let json = report(&sites, "cohorts", &period).await;
    let mut cohorts: BTreeMap<String, (HashSet<Uuid>, HashSet<Uuid>)> = BTreeMap::new();
    let month_index = |at: NaiveDateTime| {
        let at = local(at);
        at.year() * 12 + at.month() as i32
    };
    for o in &sold_orders {
        let start = first[&o.customer_id];
        let e = cohorts.entry(month(start)).or_default();
        e.0.insert(o.customer_id);
        if month_index(o.created_at) - month_index(start) == 1 {
            e.1.insert(o.customer_id);
        }
    }
    let got = by_label(&json, "cohort");
    assert_eq!(got.len(), cohorts.len(), "cohorts");
    for (cohort, (all, next)) in &cohorts {
        assert_eq!(got[cohort]["customers"], json!(all.len()), "cohort {cohort}");
        if let Some(percent) = got[cohort]["month_1_percent"].as_f64() {
            assert!(
                (percent - share(next.len() as i64, all.len() as i64)).abs() < 0.01,
                "cohort {cohort} month +1"
            );
        }
    }

    // Abandoned carts: left 24 hours or more (worked out at the moments before and after the
    // report, so that a cart turning 24 hours old meanwhile cannot make it disagree).
    let abandoned = |now: DateTime<Utc>| {
        let cut = (now - Duration::hours(24)).naive_utc();
        let lines: Vec<&CartLine> = data.cart_lines.iter().filter(|l| l.updated_at < cut).collect();
        let carts: HashSet<Uuid> = lines.iter().map(|l| l.cart_id).collect();
        let value: i64 = lines.iter().map(|l| i64::from(l.quantity) * l.price_minor).sum();
        (json!(carts.len()), json!(value))
    };
    let before = abandoned(Utc::now());
    let json = report(&sites, "abandoned-carts", &period).await;
    let after = abandoned(Utc::now());
    let got = (json["summary"]["carts"].clone(), json["summary"]["value_minor"].clone());
    assert!(got == before || got == after, "abandoned carts: {got:?} against {before:?}");
    assert!(before.0.as_u64() > Some(100), "the history left carts: {before:?}");

    // Support against its targets.
    let json = report(&sites, "support", &period).await;
    let mut expected: BTreeMap<String, (i64, i64, i64, i64, i64)> = BTreeMap::new();
    for t in &data.tickets {
        let e = expected.entry(t.category.clone()).or_default();
        e.0 += 1;
        if let Some(at) = t.first_responded_at {
            e.1 += 1;
            e.2 += i64::from(at <= t.first_response_due_at);
        }
        if let Some(at) = t.resolved_at {
            e.3 += 1;
            e.4 += i64::from(at <= t.resolution_due_at + Duration::seconds(t.paused_secs));
        }
    }
    let got = by_label(&json, "category");
    assert_eq!(got.len(), expected.len(), "ticket categories");
    for (category, (tickets, answered, in_time, resolved, resolved_in_time)) in &expected {
        let row = &got[category];
        assert_eq!(row["tickets"], json!(tickets), "{category}");
        let percent = |key: &str| row[key].as_f64().unwrap_or(-1.0);
        if *answered > 0 {
            assert!(
                (percent("answered_in_time_percent") - share(*in_time, *answered)).abs() < 0.01,
                "{category}"
            );
        }
        if *resolved > 0 {
            assert!(
                (percent("resolved_in_time_percent") - share(*resolved_in_time, *resolved)).abs() < 0.01,
                "{category}"
            );
        }
    }

    // CSV of the same report: a heading and a row per group.
    let output = tokio::process::Command::new(root().join("target/debug/pola"))
        .arg("--config")
        .arg(sites.dir.join("dc/pola.toml"))
        .args(["report", "sales", "--by", "district", "--format", "csv"])
        .args(&period)
        .output()
        .await
        .expect("pola report runs");
    let csv = String::from_utf8_lossy(&output.stdout);
    assert!(csv.starts_with("District,Orders,Revenue (Rs.),"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("Colombo,")), "{csv}");

    // The reporting user reads and nothing more, even on the primary.
    let reporting = sqlx::MySqlPool::connect(&format!(
        "mysql://reporting:reporting-local-only@127.0.0.1:{}",
        sites.db_port[0]
    ))
    .await
    .expect("the reporting user signs in at DC");
    let write = sqlx::query("UPDATE pola_orders.orders SET total_minor = 0 LIMIT 1")
        .execute(&reporting)
        .await;
    assert!(write.is_err(), "the reporting user cannot write");
    reporting.close().await;

    // A report on the primary alone is refused, and the refusal says why.
    let only_dc = sites.dir.join("only-dc.toml");
    std::fs::write(
        &only_dc,
        format!(
            "[reporting.sites]\ndc = \"mysql://reporting:reporting-local-only@127.0.0.1:{}\"\n",
            sites.db_port[0]
        ),
    )
    .expect("a configuration");
    let refused = pola(&only_dc, "sales", &period).await;
    assert!(!refused.status.success(), "a report on the primary is refused");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("no standby replica to report from (dc: primary)"), "{said}");
    let allowed = pola(&only_dc, "sales", &with(&["--allow-primary"])).await;
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
}
