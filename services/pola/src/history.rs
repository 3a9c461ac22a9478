//! The demo shop's year of trade, for "customers also bought" and the staff's reports to have
//! something to show and to be measured on: orders over the demo baskets with the seasons of a
//! Sri Lankan shop (April's Avurudu and December twice as busy), Colombo and Gampaha ordering
//! most, returning customers; how each was paid (PayHere, cash on delivery, bank transfer), carried
//! (Koombiyo, Domex, Prompt Xpress, with cash paid over after ten days), discounted (Avurudu and
//! Christmas codes, a welcome code on a first order), undone (cancelled by the customer or for
//! want of payment, returned, refunded with a reason) and complained about (support tickets
//! answered mostly within their targets); and carts left behind. A few PayHere payments go wrong
//! the way real ones do (charged back, or paid after the order was given up), for reconciliation
//! to find.
//!
//! The same `count` writes the same history, up to the moment it is written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use pola_cart::store::SeedCart;
use pola_core::{Money, districts::DISTRICTS};
use pola_orders::{
    model::{OrderLine, OrderStatus},
    store::SeedOrder,
};
use pola_payments::{
    model::{Method, PaymentStatus},
    store::{SeedMoney, SeedShipment},
};
use pola_promotions::store::SeedRedemption;
use pola_support::{model::Category, model::State, store::TicketRow};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use uuid::Uuid;

use crate::{Services, baskets::demo_baskets};

/// Orders written per transaction.
const BATCH: usize = 500;

/// Couriers: the code parcels name, and the actor their tracking moves orders as.
const COURIERS: [(&str, &str); 3] = [
    ("koombiyo", "system:koombiyo"),
    ("domex", "system:domex"),
    ("prompt_xpress", "system:prompt_xpress"),
];

const REFUND_REASONS: [&str; 4] = [
    "Damaged in transit",
    "Wrong size sent",
    "Sold out after payment",
    "Customer changed their mind",
];

/// How an order of the history ended: mostly delivered, some undone, the last weeks' still on
/// their way.
fn ending(rng: &mut StdRng, age: Duration) -> OrderStatus {
    let draw: f64 = rng.random();
    match draw {
        d if d < 0.05 => OrderStatus::Cancelled,
        d if d < 0.08 => OrderStatus::Refunded,
        d if d < 0.10 => OrderStatus::Returned,
        _ if age < Duration::days(3) => OrderStatus::Paid,
        _ if age < Duration::days(7) => OrderStatus::Shipped,
        _ => OrderStatus::Delivered,
    }
}

/// When an order of the last year was placed: twice as busy in April (Avurudu) and December.
fn placed_at(now: DateTime<Utc>, rng: &mut StdRng) -> DateTime<Utc> {
    loop {
        let at = now - Duration::seconds(rng.random_range(0..365 * 86_400));
        let busy = matches!(at.month(), 4 | 12);
        if busy || rng.random_bool(0.5) {
            return at;
        }
    }
}

/// Delivery by district: Colombo's suburbs cost least.
fn delivery_fee(district: &str) -> i64 {
    match district {
        "Colombo" => 35_000,
        "Gampaha" | "Kalutara" => 40_000,
        _ => 50_000,
    }
}

/// The seasons' promotions, made on first use: (season, year) → id.
struct Promotions<'a> {
    pool: &'a sqlx::MySqlPool,
    made: HashMap<(&'static str, i32), Uuid>,
}

impl Promotions<'_> {
    /// The promotion an order placed at `at` uses, if any: its id, code and percent off.
    async fn pick(
        &mut self,
        rng: &mut StdRng,
        at: DateTime<Utc>,
        first_order: bool,
    ) -> anyhow::Result<Option<(Uuid, String, i64)>> {
        let local = at.with_timezone(&pola_core::clock::colombo());
        let (season, percent, from, to) = match (local.month(), local.day()) {
            (4, 1..=20) if rng.random_bool(0.35) => ("AVURUDU", 10, (4, 1), (4, 20)),
            (12, 10..) if rng.random_bool(0.3) => ("XMAS", 15, (12, 10), (12, 31)),
            _ if first_order && rng.random_bool(0.3) => ("WELCOME", 5, (1, 1), (12, 31)),
            _ => return Ok(None),
        };
        let year = local.year();
        let code = format!("{season}{}", year % 100);
        if let Some(&id) = self.made.get(&(season, year)) {
            return Ok(Some((id, code, percent)));
        }
        let id = Uuid::now_v7();
        let name = match season {
            "AVURUDU" => format!("Avurudu {year}: {percent}% off"),
            "XMAS" => format!("Christmas {year}: {percent}% off"),
            _ => format!("Welcome {year}: {percent}% off a first order"),
        };
        let new: pola_promotions::model::NewPromotion = serde_json::from_value(serde_json::json!({
            "name": name,
            "code": code,
            "kind": "percent_off",
            "value": percent,
            "starts_at": format!("{year}-{:02}-{:02}T00:00:00+05:30", from.0, from.1),
            "ends_at": format!("{year}-{:02}-{:02}T23:59:59+05:30", to.0, to.1),
        }))?;
        let spec = new
            .check(id)
            .map_err(|errors| anyhow::anyhow!("a seeded promotion is invalid: {errors:?}"))?;
        let mut conn = self.pool.acquire().await?;
        pola_promotions::store::insert_promotion(&mut conn, &spec, at - Duration::days(30)).await?;
        self.made.insert((season, year), id);
        Ok(Some((id, code, percent)))
    }
}

/// How an order was paid and carried, as it ended.
fn money(
    rng: &mut StdRng,
    order: &SeedOrder,
    method: Method,
    courier: &'static str,
    serial: &mut u64,
    now: DateTime<Utc>,
) -> SeedMoney {
    // Waybills and payment references from one counter: unique however many orders are made.
    let mut next = || {
        *serial += 1;
        *serial
    };
    let at = order.placed_at;
    let later = |rng: &mut StdRng, from: DateTime<Utc>, hours: std::ops::Range<i64>| {
        (from + Duration::minutes(rng.random_range(hours.start * 60..hours.end * 60))).min(now)
    };
    let carried = matches!(
        order.status,
        OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::Returned | OrderStatus::Refunded
    );
    let shipment = carried.then(|| {
        let waybill = next();
        let shipped_at = later(rng, at, 12..48);
        let delivered_at =
            matches!(order.status, OrderStatus::Delivered | OrderStatus::Refunded).then(|| later(rng, shipped_at, 20..96));
        // Couriers pay cash over about ten days after delivery.
        let remitted = match delivered_at {
            Some(d) if method == Method::Cod && now - d > Duration::days(10) => order.total_minor(),
            _ => 0,
        };
        SeedShipment {
            courier,
            waybill: format!("{}{waybill:08}", &courier[..2].to_uppercase()),
            shipped_at,
            delivered_at,
            remitted_minor: remitted,
        }
    });
    let cancelled = order.status == OrderStatus::Cancelled;
    let payment = match method {
        Method::Payhere if cancelled => {
            // Some gave up after a failed card; a very few paid after the order was given up.
            let draw: f64 = rng.random();
            if draw < 0.02 {
                Some((payhere_id(next()), PaymentStatus::Succeeded, later(rng, at, 1..2)))
            } else if draw < 0.5 {
                Some((payhere_id(next()), PaymentStatus::Failed, later(rng, at, 0..1)))
            } else {
                None
            }
        }
        Method::Payhere => {
            let status = if rng.random_bool(0.004) {
                PaymentStatus::ChargedBack
            } else {
                PaymentStatus::Succeeded
            };
            Some((payhere_id(next()), status, later(rng, at, 0..1)))
        }
        Method::BankTransfer if cancelled => None,
        Method::BankTransfer => Some((format!("SLIP{:08}", next()), PaymentStatus::Succeeded, later(rng, at, 1..48))),
        Method::Cod => shipment.as_ref().and_then(|s| {
            s.delivered_at
                .map(|d| (format!("{}:{}", s.courier, s.waybill), PaymentStatus::Succeeded, d))
        }),
    };
    let refund = match order.status {
        OrderStatus::Refunded => Some(REFUND_REASONS.choose(rng).expect("reasons").to_string()),
        OrderStatus::Returned if method != Method::Cod => Some("Parcel came back undelivered".to_owned()),
        _ => None,
    }
    .zip(payment.as_ref().filter(|p| p.1 == PaymentStatus::Succeeded))
    .map(|(reason, p)| (reason, later(rng, p.2, 24..96)));
    SeedMoney {
        order_id: order.id,
        customer_id: order.customer,
        method,
        amount_minor: order.total_minor(),
        placed_at: at,
        payment,
        shipment,
        refund,
    }
}

/// A PayHere payment id (they are 13 digits and start 320).
fn payhere_id(serial: u64) -> String {
    format!("320{serial:010}")
}

/// A ticket about `order`, now and then: what it is about follows how the order went.
fn ticket(rng: &mut StdRng, order: &SeedOrder, method: Method, now: DateTime<Utc>) -> Option<TicketRow> {
    if !rng.random_bool(0.03) {
        return None;
    }
    let category = match order.status {
        OrderStatus::Shipped => Category::LateDelivery,
        OrderStatus::Refunded => Category::Refund,
        OrderStatus::Cancelled if method == Method::Payhere => Category::PaymentTakenNoOrder,
        OrderStatus::Delivered if method == Method::Cod && rng.random_bool(0.3) => Category::Cod,
        OrderStatus::Delivered if rng.random_bool(0.5) => Category::DamagedOrWrongItem,
        _ => Category::ProductQuestion,
    };
    let created = order.placed_at + Duration::minutes(rng.random_range(30..5 * 24 * 60));
    if created >= now {
        return None;
    }
    let (first, resolution) = category.targets();
    // Most are answered and resolved in time; one in six or so is late.
    let took = |rng: &mut StdRng, target: Duration| {
        Duration::seconds((target.num_seconds() as f64 * rng.random_range(0.05..1.25)) as i64)
    };
    let answered = Some(created + took(rng, first)).filter(|&at| at <= now);
    let resolved = answered.map(|a| a + took(rng, resolution - first)).filter(|&at| at <= now);
    let state = match (answered, resolved) {
        (_, Some(_)) => State::Resolved,
        (Some(_), None) => State::Open,
        _ => State::New,
    };
    Some(TicketRow {
        id: Uuid::now_v7(),
        customer_id: order.customer,
        order_id: Some(order.id),
        category,
        state,
        subject_sealed: vec![],
        created_at: created,
        updated_at: resolved.or(answered).unwrap_or(created),
        first_response_due_at: created + first,
        resolution_due_at: created + resolution,
        paused_secs: 0,
        paused_since: resolved,
        first_responded_at: answered,
        resolved_at: resolved,
    })
}

/// Who moved an order to where it ended.
fn actor(rng: &mut StdRng, status: OrderStatus, method: Method, courier_actor: &'static str) -> &'static str {
    match status {
        OrderStatus::Cancelled if method != Method::Cod && rng.random_bool(0.6) => "system:payment-window",
        OrderStatus::Cancelled if rng.random_bool(0.1) => "staff:seed",
        OrderStatus::Cancelled => "customer",
        OrderStatus::Refunded => "staff:seed",
        OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::Returned => courier_actor,
        _ => "system:seed",
    }
}

struct Pools<'a> {
    orders: &'a sqlx::MySqlPool,
    payments: &'a sqlx::MySqlPool,
    promotions: &'a sqlx::MySqlPool,
    support: &'a sqlx::MySqlPool,
}

/// Writes a batch of orders and what came of them, and empties it.
async fn write(
    pools: &Pools<'_>,
    orders: &mut Vec<SeedOrder>,
    moneys: &mut Vec<SeedMoney>,
    uses: &mut Vec<SeedRedemption>,
    tickets: &mut Vec<TicketRow>,
    written: &mut Written,
) -> anyhow::Result<()> {
    pola_orders::store::seed_orders(pools.orders, orders).await?;
    pola_payments::store::seed_history(pools.payments, moneys).await?;
    pola_promotions::store::seed_redemptions(pools.promotions, uses).await?;
    pola_support::store::seed_tickets(pools.support, tickets).await?;
    written.orders += orders.len();
    written.tickets += tickets.len();
    orders.clear();
    moneys.clear();
    uses.clear();
    tickets.clear();
    Ok(())
}

/// What the history wrote.
#[derive(Debug, Default)]
pub struct Written {
    pub orders: usize,
    pub tickets: usize,
    pub carts: usize,
}

/// Writes `count` orders of the last year over the demo catalog (products in seed order, each
/// bought as its first variant) with their payments, parcels, refunds, promotion uses and
/// tickets, and a twentieth as many abandoned carts, unless there are orders already.
pub async fn seed(services: &Services, count: usize) -> anyhow::Result<Written> {
    use anyhow::Context;
    let need = || "all services run here";
    let catalog = services.catalog.as_deref().context(need())?;
    let pools = Pools {
        orders: services.orders.as_deref().context(need())?.pool(),
        payments: services.payments.as_deref().context(need())?.pool(),
        promotions: services.promotions.as_deref().context(need())?.pool(),
        support: services.support.as_deref().context(need())?.pool(),
    };
    let carts = services.cart.as_deref().context(need())?.pool();
    let mut promotions = Promotions {
        pool: pools.promotions,
        made: HashMap::new(),
    };
    if count == 0 {
        return Ok(Written::default());
    }
    let existing = pola_orders::store::count_orders(pools.orders).await?;
    if existing > 0 {
        println!("there are {existing} orders already; not seeding a history");
        return Ok(Written::default());
    }
    let products = pola_catalog::store::product_ids(catalog.pool()).await?;
    let mut first: HashMap<Uuid, pola_catalog::store::VariantRow> = HashMap::new();
    for chunk in products.chunks(1_000) {
        for v in pola_catalog::store::variants(catalog.pool(), chunk, true).await? {
            first.entry(v.product_id).or_insert(v);
        }
    }
    let now = Utc::now();
    let mut rng = StdRng::seed_from_u64(1956);
    let mut times: Vec<DateTime<Utc>> = (0..count).map(|_| placed_at(now, &mut rng)).collect();
    times.sort_unstable();
    // Returning customers: a third as many customers as orders, the first ones the most loyal.
    let customers: Vec<Uuid> = (0..count.div_ceil(3)).map(|_| Uuid::now_v7()).collect();
    let mut seen: HashSet<Uuid> = HashSet::new();
    let bar = ProgressBar::new(count as u64).with_style(
        ProgressStyle::with_template("{spinner} seeding [{bar:40}] {pos}/{len} orders, {per_sec}, {eta} left")?
            .progress_chars("=> "),
    );
    let baskets = demo_baskets(products.len(), count, 2026);
    let mut written = Written::default();
    let (mut batch, mut moneys, mut uses, mut tickets) = (vec![], vec![], vec![], vec![]);
    let mut serial = 0;
    for (basket, at) in baskets.iter().zip(times) {
        let mut lines: Vec<OrderLine> = basket
            .iter()
            .filter_map(|&i| first.get(&products[i]))
            .filter_map(|v| {
                let quantity = if rng.random_bool(0.2) { 2 } else { 1 };
                OrderLine::new(v.id, v.product_id, v.sku.clone(), v.product_name.clone(), v.price, quantity)
            })
            .collect();
        if lines.is_empty() {
            continue;
        }
        let draw: f64 = rng.random();
        let customer = customers[((draw * draw) * customers.len() as f64) as usize];
        let first_order = seen.insert(customer);
        let promotion = promotions.pick(&mut rng, at, first_order).await?;
        if let Some((_, _, percent)) = &promotion {
            for line in &mut lines {
                line.discount = Money::lkr(-(line.line_total.amount_minor * percent / 100));
            }
        }
        // Colombo and Gampaha order most.
        let district = match rng.random_range(0..10) {
            0..=3 => "Colombo",
            4 | 5 => "Gampaha",
            _ => DISTRICTS[rng.random_range(0..DISTRICTS.len())],
        };
        let mut status = ending(&mut rng, now - at);
        let subtotal: i64 = lines.iter().map(|l| l.line_total.amount_minor).sum();
        let method = match rng.random_range(0..20) {
            0..=10 => Method::Payhere,
            11..=17 if subtotal <= 5_000_000 => Method::Cod,
            11..=17 => Method::Payhere,
            _ => Method::BankTransfer,
        };
        if method == Method::Cod && status == OrderStatus::Paid {
            status = OrderStatus::Confirmed;
        }
        let (courier, courier_actor) = *COURIERS.choose(&mut rng).expect("couriers");
        let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
        let order = SeedOrder {
            id: Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                seconds,
                at.timestamp_subsec_nanos(),
            )),
            customer,
            placed_at: at,
            status,
            district,
            delivery_fee_minor: delivery_fee(district),
            actor: actor(&mut rng, status, method, courier_actor),
            lines,
        };
        let paid = money(&mut rng, &order, method, courier, &mut serial, now);
        if let Some((promotion, code, _)) = promotion {
            uses.push(SeedRedemption {
                order_id: order.id,
                promotion_id: promotion,
                code: Some(code),
                customer_id: customer,
                amount_minor: -order.discount_minor(),
                at,
            });
        }
        tickets.extend(ticket(&mut rng, &order, method, now));
        moneys.push(paid);
        batch.push(order);
        if batch.len() == BATCH {
            write(&pools, &mut batch, &mut moneys, &mut uses, &mut tickets, &mut written).await?;
            bar.set_position(written.orders as u64);
        }
    }
    write(&pools, &mut batch, &mut moneys, &mut uses, &mut tickets, &mut written).await?;
    bar.set_position(written.orders as u64);
    bar.finish();
    let variants: Vec<Uuid> = first.values().map(|v| v.id).collect();
    // A customer has one cart: each signed-in cart is a different customer's.
    let mut owners = customers.choose_multiple(&mut rng, count / 20).copied();
    let left: Vec<SeedCart> = (0..count / 20)
        .map(|_| SeedCart {
            id: Uuid::now_v7(),
            customer_id: owners.next().filter(|_| rng.random_bool(0.6)),
            touched_at: now - Duration::minutes(rng.random_range(0..365 * 24 * 60)),
            lines: (0..rng.random_range(1..=3))
                .filter_map(|_| variants.choose(&mut rng).map(|&v| (v, rng.random_range(1..=2))))
                .collect::<HashMap<_, _>>()
                .into_iter()
                .collect(),
        })
        .collect();
    for chunk in left.chunks(BATCH) {
        pola_cart::store::seed_carts(carts, chunk).await?;
    }
    written.carts = left.len();
    Ok(written)
}
