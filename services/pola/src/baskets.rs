//! The demo shop's order history, as baskets of product numbers (the seed's `product(i)`), with
//! the structure a real shop's has: a few products sell far more than the rest (popularity falls
//! with the square of a uniform draw), and each product has companions customers tend to buy with
//! it — the same motif in a complementary category (a batik shirt with the saree and the
//! handloom bedspread of its motif; tea with Avurudu sweets and a gift box; spices with tea and
//! sweets; tailoring with a batik shirt) — besides a random product now and then.
//!
//! `history::seed` writes orders of the last year over these baskets.

use rand::{Rng, SeedableRng, rngs::StdRng};

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
