//! The read model: listing pages and product pages answered from memory, cache-aside.
//!
//! A page is read from the database (and inventory) on its first request, kept as the JSON a
//! customer gets (what is weighed against the memory bound), and answered from memory until one
//! of these comes first:
//!
//! - an event says what it shows changed: `catalog.changed` (a price, a name, an archive, a new
//!   product or variant, pictures) from the catalog, `stock.out`, `stock.in` and `stock.low` (a
//!   variant's availability crossing zero or the low-stock threshold) from inventory. Every
//!   `pola serve` follows them ([`pola_core::events::follow`]) and clears all its pages: such
//!   events are rare, and a page lists many products. The process that makes a catalog change
//!   clears its own pages at once.
//! - `catalog.read_model_ttl_ms` passes (5 s by default): the bound on a stock level that
//!   crossed nothing, and on everything while the broker is away.
//!
//! Pages are bounded in bytes and the least used go first. Requests for a page being read wait
//! for that one read instead of all asking the database. Carts and checkouts never read from
//! here: what they price and reserve is read from the database every time.

use std::{
    future::Future,
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use moka::future::Cache;
use pola_core::{
    Error,
    config::CatalogConfig,
    events::{Envelope, follow::Follower},
    pagination::{Page, PageRequest},
};
use serde::Serialize;
use uuid::Uuid;

use crate::model::{ProductDetail, ProductFilter, ProductSummary};

/// The events that clear the read model.
pub const CLEARED_BY: [&str; 4] = ["catalog.changed", "stock.out", "stock.in", "stock.low"];

/// A page as it is kept: the JSON a customer gets (shared, not copied, by each answer).
#[derive(Debug, Clone)]
pub struct PageJson(Bytes);

impl IntoResponse for PageJson {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// One kind of page, keyed by what asks for it and the read model's generation.
struct Pages<K> {
    cache: Cache<(u64, K), PageJson>,
}

impl<K> Pages<K>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    fn new(config: &CatalogConfig) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(config.read_model_max_bytes / 2)
                .weigher(|_, page: &PageJson| u32::try_from(page.0.len()).unwrap_or(u32::MAX))
                .time_to_live(Duration::from_millis(config.read_model_ttl_ms))
                .build(),
        }
    }

    /// The page under `key`, read by `read` when it is not kept (by one request at a time).
    async fn get<V, F, Fut>(&self, generation: u64, key: K, read: F) -> Result<PageJson, Error>
    where
        V: Serialize,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, Error>>,
    {
        let reading = async { kept(&read().await?) };
        match self.cache.try_get_with((generation, key), reading).await {
            Ok(page) => Ok(page),
            // The reader's own error is its; one that waited on it reads again to learn why
            // (a 404 and a database error answer differently).
            Err(shared) => match Arc::try_unwrap(shared) {
                Ok(error) => Err(error),
                Err(_) => kept(&read().await?),
            },
        }
    }

    fn clear(&self) {
        self.cache.invalidate_all();
    }
}

/// A listing as it is asked for.
type ListKey = (ProductFilter, PageRequest);

/// Listing pages and product pages.
type Kept = (Pages<ListKey>, Pages<Uuid>);

/// Listing and product pages of one process (None: the read model is off).
pub struct ReadModel {
    pages: Option<Kept>,
    /// Bumped by every clearing: a read that began before it keeps its answer under the old
    /// generation, where no one looks any more.
    generation: AtomicU64,
}

impl ReadModel {
    pub fn new(config: &CatalogConfig) -> Self {
        Self {
            pages: (config.read_model_ttl_ms > 0).then(|| (Pages::new(config), Pages::new(config))),
            generation: AtomicU64::new(0),
        }
    }

    /// A listing page, from memory or read by `read`.
    pub async fn list<F, Fut>(&self, key: ListKey, read: F) -> Result<PageJson, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Page<ProductSummary>, Error>>,
    {
        match &self.pages {
            Some((lists, _)) => lists.get(self.generation.load(Ordering::Acquire), key, read).await,
            None => kept(&read().await?),
        }
    }

    /// A product page, from memory or read by `read`.
    pub async fn product<F, Fut>(&self, id: Uuid, read: F) -> Result<PageJson, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<ProductDetail, Error>>,
    {
        match &self.pages {
            Some((_, products)) => products.get(self.generation.load(Ordering::Acquire), id, read).await,
            None => kept(&read().await?),
        }
    }

    /// Forgets every page: the next request for each reads it again.
    pub fn clear(&self) {
        if let Some((lists, products)) = &self.pages {
            self.generation.fetch_add(1, Ordering::AcqRel);
            lists.clear();
            products.clear();
        }
    }
}

/// A page as it is kept.
fn kept<V: Serialize>(value: &V) -> Result<PageJson, Error> {
    let json = serde_json::to_vec(value).map_err(|e| Error::Internal(e.into()))?;
    Ok(PageJson(Bytes::from(json)))
}

impl Follower for ReadModel {
    fn event(&self, event: &Envelope) {
        if CLEARED_BY.contains(&event.kind.as_str()) {
            tracing::debug!(event.kind = %event.kind, "catalog read model cleared");
            self.clear();
        }
    }

    fn gap(&self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    fn pages(ttl_ms: u64) -> Pages<u32> {
        Pages::new(&CatalogConfig {
            read_model_ttl_ms: ttl_ms,
            read_model_max_bytes: 1 << 20,
        })
    }

    #[tokio::test]
    async fn a_page_is_read_once_until_its_generation_changes_or_it_expires() {
        let pages = pages(300);
        let reads = AtomicU32::new(0);
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Error>("page".to_owned())
        };
        // Twenty requests at once for a page no one has read: one read.
        let all = futures_util::future::join_all((0..20).map(|_| pages.get(0, 1, read))).await;
        assert!(all.iter().all(|page| page.as_ref().is_ok_and(|p| &p.0[..] == b"\"page\"")));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        pages.get(0, 1, read).await.expect("kept");
        assert_eq!(reads.load(Ordering::SeqCst), 1, "kept");
        pages.get(1, 1, read).await.expect("read again");
        assert_eq!(reads.load(Ordering::SeqCst), 2, "a new generation reads again");
        tokio::time::sleep(Duration::from_millis(400)).await;
        pages.get(1, 1, read).await.expect("read again");
        assert_eq!(reads.load(Ordering::SeqCst), 3, "an expired page is read again");
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept_and_keeps_its_error() {
        let pages = pages(60_000);
        let missing = || async { Err::<String, _>(Error::not_found("No such product.")) };
        assert!(matches!(pages.get(0, 1, missing).await, Err(Error::NotFound(_))));
        let found = || async { Ok::<_, Error>("found".to_owned()) };
        assert_eq!(&pages.get(0, 1, found).await.expect("read").0[..], b"\"found\"");
    }

    #[tokio::test]
    async fn an_event_that_shows_a_change_clears_every_page() {
        let model = ReadModel::new(&CatalogConfig::default());
        let before = model.generation.load(Ordering::SeqCst);
        let event = |kind: &str| Envelope {
            id: Uuid::now_v7(),
            kind: kind.into(),
            occurred_at: chrono::Utc::now(),
            version: 1,
            data: serde_json::json!({}),
        };
        model.event(&event("order.placed"));
        assert_eq!(model.generation.load(Ordering::SeqCst), before);
        model.event(&event("stock.out"));
        model.event(&event("catalog.changed"));
        assert_eq!(model.generation.load(Ordering::SeqCst), before + 2);
        model.gap();
        assert_eq!(model.generation.load(Ordering::SeqCst), before + 3);
    }
}
