//! The demo shop's order history, as baskets of product numbers (the seed's `product(i)`), with
//! the structure a real shop's has: a few products sell far more than the rest (popularity falls
//! with the square of a uniform draw), and each product has companions customers tend to buy with
//! it — the same motif in a complementary category (a batik shirt with the saree and the
//! handloom bedspread of its motif; tea with Avurudu sweets and a gift box; spices with tea and
//! sweets; tailoring with a batik shirt) — besides a random product now and then.
//!
//! `seed_history` writes such a history as orders of the last year, so that "customers also
//! bought" has purchases to learn from and to be measured on.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use pola_catalog::Catalog;
use pola_core::districts::DISTRICTS;
use pola_orders::{
    model::{OrderLine, OrderStatus},
    store::SeedOrder,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use uuid::Uuid;

/// Categories by the seed's `i % 10`, and the ones bought with each.
fn complements(category: usize) -> &'static [usize] {
    match category {
        0 | 1 => &[2, 7], // batik shirt: saree, handloom
        2 => &[0, 7],     // saree: batik shirt, handloom
        3 | 4 => &[6, 9], // tea: sweets, gift box
        5 => &[3, 6],     // spices: tea, sweets
        6 => &[4, 5],     // sweets: tea, spices
        7 => &[2, 1],     // handloom: saree, batik shirt
        8 => &[0],        // tailoring: batik shirt
        _ => &[3, 6],     // gift box, delivery: tea, sweets
    }
}

/// The product of `category` (`i % 10`) with `product`'s motif (`i % 16`), or the next motif's,
/// nearest to it among `products`.
pub fn companion(product: usize, category: usize, products: usize) -> Option<usize> {
    let base = product - product % 80;
    let motif = product % 16;
    (0..80)
        .map(|k| base + k)
        .filter(|&i| i < products && i % 10 == category)
        .find(|&i| i % 16 == motif || i % 16 == (motif + 1) % 16)
}

/// `orders` baskets over the first `products` demo products, the same for the same `seed`.
pub fn demo_baskets(products: usize, orders: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..orders)
        .map(|_| {
            let draw: f64 = rng.random();
            let first = ((draw * draw) * products as f64) as usize;
            let mut basket = vec![first];
            for &category in complements(first % 10) {
                if rng.random_bool(0.55)
                    && let Some(other) = companion(first, category, products)
                {
                    basket.push(other);
                }
            }
            if rng.random_bool(0.25) {
                basket.push(rng.random_range(0..products));
            }
            basket.sort_unstable();
            basket.dedup();
            basket
        })
        .collect()
}

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

/// Writes `count` orders of the last year over the demo catalog (products in seed order, each
/// bought as its first variant), unless there are orders already. Returns how many it wrote.
pub async fn seed_history(catalog: &Catalog, orders: &sqlx::MySqlPool, count: usize) -> anyhow::Result<usize> {
    if count == 0 {
        return Ok(0);
    }
    let existing = pola_orders::store::count_orders(orders).await?;
    if existing > 0 {
        println!("there are {existing} orders already; not seeding a history");
        return Ok(0);
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
    let bar = ProgressBar::new(count as u64).with_style(
        ProgressStyle::with_template("{spinner} seeding [{bar:40}] {pos}/{len} orders, {per_sec}, {eta} left")?
            .progress_chars("=> "),
    );
    let baskets = demo_baskets(products.len(), count, 2026);
    let mut batch = vec![];
    for (basket, at) in baskets.iter().zip(times) {
        let lines: Vec<OrderLine> = basket
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
        let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
        let nanos = at.timestamp_subsec_nanos();
        batch.push(SeedOrder {
            id: Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos)),
            customer: customers[((draw * draw) * customers.len() as f64) as usize],
            placed_at: at,
            status: ending(&mut rng, now - at),
            // Colombo and Gampaha order most.
            district: match rng.random_range(0..10) {
                0..=3 => "Colombo",
                4 | 5 => "Gampaha",
                _ => DISTRICTS[rng.random_range(0..DISTRICTS.len())],
            },
            lines,
        });
        if batch.len() == 500 {
            pola_orders::store::seed_orders(orders, &batch).await?;
            bar.inc(batch.len() as u64);
            batch.clear();
        }
    }
    pola_orders::store::seed_orders(orders, &batch).await?;
    bar.inc(batch.len() as u64);
    bar.finish();
    Ok(bar.position() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_companion_shares_the_motif_and_is_of_the_complementary_category() {
        for product in [0, 17, 163, 9_999] {
            for &category in complements(product % 10) {
                let other = companion(product, category, 10_000).expect("a companion");
                assert_eq!(other % 10, category);
                assert!(other % 16 == product % 16 || other % 16 == (product % 16 + 1) % 16);
            }
        }
    }

    #[test]
    fn the_history_is_the_same_for_the_same_seed_and_popularity_is_skewed() {
        let baskets = demo_baskets(1_000, 5_000, 7);
        assert_eq!(baskets, demo_baskets(1_000, 5_000, 7));
        let top_tenth = baskets.iter().filter(|b| b[0] < 100).count();
        assert!(
            top_tenth > 1_000,
            "the first tenth of products starts {top_tenth} of 5,000 baskets"
        );
        assert!(baskets.iter().any(|b| b.len() >= 3));
    }
}
