//! "Customers also bought", worked out from baskets (the products of one paid order), without
//! I/O: how often each product was bought, and each pair together; a product's neighbours ranked
//! by cosine similarity, `together / sqrt(a × b)`, which rewards pairs bought together more than
//! their popularity alone explains (raw counts would put the bestsellers next to everything);
//! pairs seen fewer than `min_support` times are noise and left out.

use std::{collections::HashMap, hash::Hash};

/// Counts over baskets.
#[derive(Debug, Clone)]
pub struct CoPurchases<P> {
    /// Baskets each product was in.
    bought: HashMap<P, u32>,
    /// For each product, the baskets it shared with each other product.
    together: HashMap<P, HashMap<P, u32>>,
}

impl<P> Default for CoPurchases<P> {
    fn default() -> Self {
        Self {
            bought: HashMap::new(),
            together: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + Hash + Ord> CoPurchases<P> {
    /// Counts one basket (a product bought twice in it counts once).
    pub fn add(&mut self, basket: &[P]) {
        let mut products: Vec<P> = basket.to_vec();
        products.sort_unstable();
        products.dedup();
        for &a in &products {
            *self.bought.entry(a).or_default() += 1;
            let with = self.together.entry(a).or_default();
            for &b in products.iter().filter(|&&b| b != a) {
                *with.entry(b).or_default() += 1;
            }
        }
    }

    /// The pairs `product` is in, bought together at least `min_support` times.
    pub fn pairs(&self, product: P, min_support: u32) -> impl Iterator<Item = Pair<P>> + '_ {
        let own = self.bought.get(&product).copied().unwrap_or(0);
        self.together
            .get(&product)
            .into_iter()
            .flatten()
            .filter(move |&(_, &n)| n >= min_support)
            .map(move |(&other, &together)| Pair {
                product,
                other,
                together,
                product_orders: own,
                other_orders: self.bought.get(&other).copied().unwrap_or(0),
            })
    }

    /// The `k` products in the most baskets.
    pub fn bestsellers(&self, k: usize) -> Vec<P> {
        let mut ranked: Vec<(P, u32)> = self.bought.iter().map(|(&p, &n)| (p, n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().take(k).map(|(p, _)| p).collect()
    }

    /// Up to `k` products to suggest beside `basket`, bestsellers filling what is left (see
    /// `suggest`).
    pub fn recommend(&self, basket: &[P], k: usize, min_support: u32, excluded: impl Fn(P) -> bool) -> Vec<P> {
        let pairs = basket.iter().flat_map(|&p| self.pairs(p, min_support));
        let ranked = rank(basket, pairs, &excluded);
        suggest(basket, ranked, self.bestsellers(k + basket.len() + k), k, excluded)
    }
}

/// Two products bought together, with how often each was bought at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair<P> {
    pub product: P,
    pub other: P,
    /// Baskets with both.
    pub together: u32,
    /// Baskets with `product`.
    pub product_orders: u32,
    /// Baskets with `other`.
    pub other_orders: u32,
}

impl<P> Pair<P> {
    /// `together / sqrt(product_orders × other_orders)`: 1 when the two are only ever bought
    /// together.
    pub fn cosine(&self) -> f64 {
        let popularity = f64::from(self.product_orders.max(1)) * f64::from(self.other_orders.max(1));
        f64::from(self.together) / popularity.sqrt()
    }
}

/// The products paired with a basket's, their similarities summed over the basket, best first
/// (ties: the lower id, so that the order is stable); none of the basket's own and none
/// `excluded`.
pub fn rank<P: Copy + Eq + Hash + Ord>(
    basket: &[P],
    pairs: impl IntoIterator<Item = Pair<P>>,
    excluded: impl Fn(P) -> bool,
) -> Vec<(P, f64)> {
    let mut scores: HashMap<P, f64> = HashMap::new();
    for pair in pairs {
        *scores.entry(pair.other).or_default() += pair.cosine();
    }
    let mut ranked: Vec<(P, f64)> = scores
        .into_iter()
        .filter(|&(p, _)| !basket.contains(&p) && !excluded(p))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// The first `k` of `ranked`, then of `fill` (a new product's category's bestsellers, the
/// shop's), none twice, none in the basket, none `excluded`.
pub fn suggest<P: Copy + Eq>(
    basket: &[P],
    ranked: Vec<(P, f64)>,
    fill: Vec<P>,
    k: usize,
    excluded: impl Fn(P) -> bool,
) -> Vec<P> {
    let mut out: Vec<P> = Vec::with_capacity(k);
    for p in ranked.into_iter().map(|(p, _)| p).chain(fill) {
        if out.len() == k {
            break;
        }
        if !basket.contains(&p) && !out.contains(&p) && !excluded(p) {
            out.push(p);
        }
    }
    out
}

/// `items` without repeats, in their first order.
pub fn each_once<P: Copy + Eq>(items: &[P]) -> Vec<P> {
    let mut once = Vec::with_capacity(items.len());
    for &item in items {
        if !once.contains(&item) {
            once.push(item);
        }
    }
    once
}

/// How often a suggestion list held the product a customer went on to buy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HitRate {
    /// Held-out products tried.
    pub cases: usize,
    /// Found among the co-purchase suggestions.
    pub hits: usize,
    /// Found among the bestsellers (the baseline).
    pub baseline_hits: usize,
}

impl HitRate {
    pub fn rate(&self) -> f64 {
        self.hits as f64 / self.cases.max(1) as f64
    }

    pub fn baseline_rate(&self) -> f64 {
        self.baseline_hits as f64 / self.cases.max(1) as f64
    }
}

/// Learns from `train` and tries each basket of `test` with two products or more: every product
/// in turn is held out, the rest is the basket, and a hit is the held-out product among the `k`
/// suggestions — against the `k` bestsellers not in the basket.
pub fn evaluate<P: Copy + Eq + Hash + Ord>(train: &[Vec<P>], test: &[Vec<P>], k: usize, min_support: u32) -> HitRate {
    let mut model = CoPurchases::default();
    for basket in train {
        model.add(basket);
    }
    let mut rate = HitRate {
        cases: 0,
        hits: 0,
        baseline_hits: 0,
    };
    for basket in test.iter().filter(|b| b.len() >= 2) {
        for (i, &held_out) in basket.iter().enumerate() {
            let rest: Vec<P> = basket.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &p)| p).collect();
            rate.cases += 1;
            if model.recommend(&rest, k, min_support, |_| false).contains(&held_out) {
                rate.hits += 1;
            }
            let baseline: Vec<P> = model
                .bestsellers(k + rest.len())
                .into_iter()
                .filter(|p| !rest.contains(p))
                .take(k)
                .collect();
            if baseline.contains(&held_out) {
                rate.baseline_hits += 1;
            }
        }
    }
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_ranks_a_true_companion_above_a_bestseller() {
        // Tea (1) sells in every basket; kokis (2) and kavum (3) go together.
        let mut model = CoPurchases::default();
        for _ in 0..10 {
            model.add(&[1, 2, 3]);
        }
        for _ in 0..90 {
            model.add(&[1, 4]);
        }
        model.add(&[1, 5, 2]);
        let related = rank(&[2], model.pairs(2, 2), |_| false);
        assert_eq!(related[0].0, 3, "kavum before tea: {related:?}");
        assert_eq!(related[1].0, 1);
        assert_eq!(related.len(), 2, "5 was bought with 2 once: below the minimum support");
        assert!((related[0].1 - 10.0 / (11.0f64 * 10.0).sqrt()).abs() < 1e-9);
        assert_eq!(model.bestsellers(2), [1, 4]);
    }

    #[test]
    fn suggestions_leave_out_the_basket_and_what_cannot_be_bought_and_fill_with_bestsellers() {
        let mut model = CoPurchases::default();
        for _ in 0..5 {
            model.add(&[1, 2, 3]);
            model.add(&[7, 8]);
        }
        model.add(&[9, 9, 9]);
        let out = model.recommend(&[1], 4, 2, |p| p == 3);
        assert_eq!(out[0], 2, "the companion first");
        assert!(!out.contains(&1) && !out.contains(&3), "{out:?}");
        assert_eq!(out.len(), 4, "filled with bestsellers: {out:?}");
        assert!(CoPurchases::<u32>::default().recommend(&[1], 3, 2, |_| false).is_empty());
    }

    #[test]
    fn a_basket_counts_each_product_once_in_its_order() {
        assert_eq!(each_once(&[3, 1, 3, 2, 1]), [3, 1, 2]);
        // Counted twice, product 1's companion would outrank product 2's better one.
        let mut model = CoPurchases::default();
        for _ in 0..3 {
            model.add(&[1, 10]);
            model.add(&[1, 20]);
        }
        for _ in 0..4 {
            model.add(&[2, 30]);
        }
        let basket = each_once(&[1, 2, 1]);
        let pairs = basket.iter().flat_map(|&p| model.pairs(p, 2));
        assert_eq!(rank(&basket, pairs, |_| false)[0].0, 30);
    }

    #[test]
    fn the_held_out_product_is_found_when_baskets_have_structure() {
        // Pairs (2n, 2n + 1) go together; 0 is bought by everyone.
        let basket = |n: u32| vec![0, 2 * n, 2 * n + 1];
        let train: Vec<Vec<u32>> = (0..200).map(|i| basket(1 + i % 20)).collect();
        let test: Vec<Vec<u32>> = (0..20).map(|i| basket(1 + i)).collect();
        let rate = evaluate(&train, &test, 3, 2);
        assert_eq!(rate.cases, 60);
        assert!(rate.rate() > rate.baseline_rate(), "{rate:?}");
        assert_eq!(rate.hits, 60, "every companion and the everyday product are found");
    }
}
