//! Recommendations: "customers also bought", from purchases (orders paid, or accepted for cash
//! on delivery, and not undone since). Its own database keeps each purchase's products and the
//! counts made of them: how many purchases hold each product and each pair. The ranking
//! (`model.rs`) is cosine similarity over those counts with a minimum support; out-of-stock
//! products and the basket's own are left out, and the bestsellers of the basket's categories
//! (then the shop's) fill what co-purchases cannot, which is what a new product gets.
//!
//! The counts are kept current from order events by the worker (`learn.rs`) and rebuilt in full
//! from orders by `pola recommendations rebuild` (`Recommendations::rebuild`). A process keeps
//! the products it ranked for a basket for `RANKING_TTL` (a product page asks the same every
//! time), so suggestions follow new purchases within that time; what is in stock, and the
//! products' names and prices, are read afresh for every answer. A failure here never fails a
//! page: the pages leave the suggestions out.

pub mod api;
pub mod learn;
pub mod model;
pub mod store;

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::Utc;
use moka::future::Cache;
use pola_catalog::{client::CatalogClient, model::ProductSummary};
use pola_core::{Error, config::RecommendationsConfig};
use pola_orders::{client::OrdersClient, model::Basket};
use sqlx::{MySqlPool, migrate::Migrator};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub const SERVICE: &str = "recommendations";

pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The most products of a basket suggestions are worked out for (a long cart's first ones).
pub const MAX_BASKET: usize = 20;

/// The most suggestions asked at once.
pub const MAX_SUGGESTIONS: usize = 12;

/// How long a process suggests from the products it ranked for a basket.
const RANKING_TTL: Duration = Duration::from_secs(30);
/// The most baskets whose ranking is kept at once.
const RANKINGS_KEPT: u64 = 10_000;

pub struct Recommendations {
    pool: MySqlPool,
    catalog: Arc<dyn CatalogClient>,
    config: RecommendationsConfig,
    /// Candidates ranked best first, by (basket, how many were asked).
    rankings: Cache<(Vec<Uuid>, usize), Arc<Vec<Uuid>>>,
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Purchases read from orders.
    pub purchases: u64,
    /// Recorded orders that are no longer purchases (cancelled, refunded, returned).
    pub forgotten: u64,
}

impl Recommendations {
    pub fn new(pool: MySqlPool, catalog: Arc<dyn CatalogClient>, config: RecommendationsConfig) -> Arc<Self> {
        let rankings = Cache::builder().max_capacity(RANKINGS_KEPT).time_to_live(RANKING_TTL).build();
        Arc::new(Self {
            pool,
            catalog,
            config,
            rankings,
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn router(self: &Arc<Self>) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(api::suggestions))
            .with_state(self.clone())
    }

    /// Up to `k` products to suggest beside `basket` (a product page's product, a cart's
    /// products), in stock and not in the basket, most related first.
    pub async fn suggest(&self, basket: &[Uuid], k: usize) -> Result<Vec<ProductSummary>, Error> {
        // A cart may hold two variants of one product: it counts once.
        let mut basket = model::each_once(basket);
        basket.truncate(MAX_BASKET);
        let k = k.min(MAX_SUGGESTIONS);
        if basket.is_empty() || k == 0 {
            return Ok(vec![]);
        }
        // Requests for a basket being ranked wait for that one ranking.
        let ranking = async { self.rank(&basket, k).await.map(Arc::new) };
        let candidates = match self.rankings.try_get_with((basket.clone(), k), ranking).await {
            Ok(ranked) => ranked,
            // The ranker's own error is its; one that waited on it ranks again to learn why.
            Err(shared) => match Arc::try_unwrap(shared) {
                Ok(error) => return Err(error),
                Err(_) => Arc::new(self.rank(&basket, k).await?),
            },
        };
        let mut shown = self.catalog.products(&candidates).await?;
        shown.retain(|p| p.stock_available > 0);
        shown.truncate(k);
        Ok(shown)
    }

    /// The `3 * k` products to suggest beside `basket`, best first: co-purchases, then the
    /// bestsellers of the basket's categories, then the shop's.
    async fn rank(&self, basket: &[Uuid], k: usize) -> Result<Vec<Uuid>, Error> {
        let pairs = store::pairs(&self.pool, basket, self.config.min_support).await?;
        let ranked = model::rank(basket, pairs, |_| false);
        // The basket's categories as the catalog has them now: a new product has no purchases.
        let categories: Vec<String> = self
            .catalog
            .products(basket)
            .await?
            .into_iter()
            .map(|p| p.category)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let room = u32::try_from(3 * k + basket.len()).unwrap_or(u32::MAX);
        let mut fill = store::bestsellers(&self.pool, Some(&categories), room).await?;
        fill.extend(store::bestsellers(&self.pool, None, room).await?);
        // Three times as many as shown, so that some may be out of stock or archived.
        Ok(model::suggest(basket, ranked, fill, 3 * k, |_| false))
    }

    /// Makes the counts agree with what `basket` is now: counted once while it is a purchase,
    /// not at all once it is undone. Safe to repeat, and in any order.
    pub async fn learn(&self, basket: &Basket) -> Result<(), Error> {
        if basket.bought {
            self.categorise(&basket.products).await?;
        }
        let mut tx = self.pool.begin().await?;
        store::lock(&mut tx).await?;
        let recorded = store::recorded(&mut tx, basket.order_id).await?;
        match (basket.bought, recorded.is_empty()) {
            (true, true) => {
                store::insert_purchases(&mut tx, &[(basket.order_id, basket.placed_at, &basket.products)]).await?;
                store::count(&mut tx, &basket.products, 1).await?;
            }
            (false, false) => {
                store::delete_purchase(&mut tx, basket.order_id).await?;
                store::count(&mut tx, &recorded, -1).await?;
            }
            _ => return Ok(()),
        }
        tx.commit().await?;
        tracing::debug!(order = %basket.order_id, bought = basket.bought, products = basket.products.len(), "learnt");
        Ok(())
    }

    /// Records the categories of `products` as the catalog has them now (archived ones keep
    /// theirs).
    async fn categorise(&self, products: &[Uuid]) -> Result<(), Error> {
        for chunk in products.chunks(100) {
            let known = self.catalog.products(chunk).await?;
            let categories: Vec<(Uuid, &str)> = known.iter().map(|p| (p.id, p.category.as_str())).collect();
            store::categorise(&self.pool, &categories).await?;
        }
        Ok(())
    }

    /// Reads every purchase from orders again and counts everything afresh: what was missed is
    /// recorded, what was undone is forgotten. Events handled meanwhile are kept. `read` is
    /// told of each page of purchases read.
    pub async fn rebuild(&self, orders: &dyn OrdersClient, read: impl Fn(u64)) -> Result<Rebuilt, Error> {
        const PAGE: u32 = 1_000;
        let started = Utc::now();
        let mut done = Rebuilt::default();
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut categorised: HashSet<Uuid> = HashSet::new();
        let mut after = None;
        loop {
            let page = orders.purchases(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.order_id);
            let new: Vec<Uuid> = page
                .iter()
                .flat_map(|b| &b.products)
                .copied()
                .filter(|p| categorised.insert(*p))
                .collect();
            self.categorise(&new).await?;
            let rows: Vec<_> = page
                .iter()
                .map(|b| (b.order_id, b.placed_at, b.products.as_slice()))
                .collect();
            let mut conn = self.pool.acquire().await?;
            store::insert_purchases(&mut conn, &rows).await?;
            seen.extend(page.iter().map(|b| b.order_id));
            done.purchases += page.len() as u64;
            read(page.len() as u64);
        }
        // What was recorded before this rebuild and orders no longer call a purchase.
        let mut after = None;
        loop {
            let recorded = store::recorded_orders(&self.pool, started, after, PAGE).await?;
            let Some(&last) = recorded.last() else { break };
            after = Some(last);
            let mut conn = self.pool.acquire().await?;
            for order in recorded.into_iter().filter(|o| !seen.contains(o)) {
                store::delete_purchase(&mut conn, order).await?;
                done.forgotten += 1;
            }
        }
        let mut tx = self.pool.begin().await?;
        store::lock(&mut tx).await?;
        store::recount(&mut tx).await?;
        tx.commit().await?;
        self.rankings.invalidate_all();
        tracing::info!(
            purchases = done.purchases,
            forgotten = done.forgotten,
            "recommendations rebuilt"
        );
        Ok(done)
    }
}
