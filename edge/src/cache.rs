//! The micro-cache: anonymous catalogue GETs on the public listener are answered from memory for
//! a short time, so that a browsing spike reaches the services as a trickle. Pingora's own cache
//! does the work (`pingora-cache`: lookups, freshness, conditional requests, and a lock so that
//! concurrent misses for one page make one upstream request); the store is its in-memory one,
//! kept to `max_bytes` by an LRU eviction manager.

use std::time::{Duration, SystemTime};

use pingora::{
    cache::{
        CacheKey, CacheMeta, MemCache, NoCacheReason, RespCacheable,
        cache_control::{CacheControl, Cacheable, InterpretCacheControl},
        eviction::simple_lru,
        lock::{CacheKeyLockImpl, CacheLock},
    },
    http::{RequestHeader, ResponseHeader},
};
use serde::{Deserialize, Serialize};

/// `[cache]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Default on.
    pub enabled: bool,
    /// Paths whose anonymous GETs are cached. Default the catalogue API.
    pub prefixes: Vec<String>,
    /// How long an answer is served from memory, unless the upstream's `Cache-Control` asks for
    /// less (`max-age`, `s-maxage`) or for nothing (`no-store`, `no-cache`, `private`).
    /// Default 2000 ms.
    pub ttl_ms: u64,
    /// Memory for cached answers, in bytes; the least recently used go first. Default 64 MiB.
    pub max_bytes: usize,
    /// Larger answers are not cached. Default 1 MiB.
    pub max_object_bytes: usize,
    /// Requests for a page being fetched wait this long for it before going upstream
    /// themselves. Default 3000 ms.
    pub lock_timeout_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prefixes: vec!["/api/v1/catalog/".into()],
            ttl_ms: 2000,
            max_bytes: 64 * 1024 * 1024,
            max_object_bytes: 1024 * 1024,
            lock_timeout_ms: 3000,
        }
    }
}

/// The cache's parts, which Pingora wants for the life of the process.
pub struct MicroCache {
    config: CacheConfig,
    pub storage: &'static MemCache,
    pub eviction: &'static simple_lru::Manager,
    pub lock: &'static CacheKeyLockImpl,
}

impl MicroCache {
    /// Built once per process: its parts live as long as the process does.
    pub fn new(config: CacheConfig) -> Self {
        let lock: Box<CacheKeyLockImpl> = CacheLock::new_boxed(Duration::from_millis(config.lock_timeout_ms));
        Self {
            storage: Box::leak(Box::new(MemCache::new())),
            eviction: Box::leak(Box::new(simple_lru::Manager::new(config.max_bytes))),
            lock: Box::leak(lock),
            config,
        }
    }

    pub fn max_object_bytes(&self) -> usize {
        self.config.max_object_bytes
    }

    /// Whether this request may be answered from the cache: a GET with no body, no credentials
    /// and no cookies, for a cached path.
    pub fn applies(&self, request: &RequestHeader) -> bool {
        let headers = &request.headers;
        request.method == http::Method::GET
            && self
                .config
                .prefixes
                .iter()
                .any(|p| request.uri.path().starts_with(p.as_str()))
            && !headers.contains_key(http::header::AUTHORIZATION)
            && !headers.contains_key(http::header::COOKIE)
            && !headers.contains_key(http::header::TRANSFER_ENCODING)
            && headers.get(http::header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0")
    }

    /// The key: host, path and query, framed so that no two requests share one by accident.
    pub fn key(request: &RequestHeader) -> CacheKey {
        let host = request.headers.get(http::header::HOST).map_or(&b""[..], |h| h.as_bytes());
        let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut primary = Vec::with_capacity(host.len() + target.len() + 8);
        primary.extend_from_slice(&(host.len() as u32).to_be_bytes());
        primary.extend_from_slice(host);
        primary.extend_from_slice(target.as_bytes());
        CacheKey::new(primary, "")
    }

    /// Whether and for how long an upstream's answer is kept: a 200 without cookies or `Vary`,
    /// for the configured TTL or less if its `Cache-Control` says so.
    pub fn cacheable(&self, response: &ResponseHeader) -> RespCacheable {
        let uncacheable = |why: &'static str| RespCacheable::Uncacheable(NoCacheReason::Custom(why));
        if response.status != http::StatusCode::OK {
            return uncacheable("status");
        }
        if response.headers.contains_key(http::header::SET_COOKIE) {
            return uncacheable("set-cookie");
        }
        if response.headers.contains_key(http::header::VARY) {
            return uncacheable("vary");
        }
        let control = CacheControl::from_resp_headers(response);
        let mut ttl = Duration::from_millis(self.config.ttl_ms);
        if let Some(control) = &control {
            if control.is_cacheable() == Cacheable::No {
                return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
            }
            if let Some(asked) = control.fresh_duration() {
                ttl = ttl.min(asked);
            }
        }
        if ttl.is_zero() {
            return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
        }
        let now = SystemTime::now();
        RespCacheable::Cacheable(CacheMeta::new(now + ttl, now, 0, 0, response.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)], status: u16) -> ResponseHeader {
        let mut response = ResponseHeader::build(status, None).expect("a response");
        for (name, value) in headers {
            response.insert_header(name.to_string(), *value).expect("a header");
        }
        response
    }

    fn ttl(cacheable: RespCacheable) -> Option<Duration> {
        match cacheable {
            RespCacheable::Cacheable(meta) => meta.fresh_until().duration_since(meta.created()).ok(),
            RespCacheable::Uncacheable(_) => None,
        }
    }

    #[test]
    fn cache_control_can_shorten_or_forbid_caching_but_not_lengthen_it() {
        let cache = MicroCache::new(CacheConfig::default());
        let two = Some(Duration::from_secs(2));
        assert_eq!(ttl(cache.cacheable(&response(&[], 200))), two);
        assert_eq!(
            ttl(cache.cacheable(&response(&[("cache-control", "public, max-age=600")], 200))),
            two
        );
        assert_eq!(
            ttl(cache.cacheable(&response(&[("cache-control", "max-age=1")], 200))),
            Some(Duration::from_secs(1))
        );
        for forbidden in ["no-store", "private", "no-cache", "max-age=0"] {
            assert_eq!(
                ttl(cache.cacheable(&response(&[("cache-control", forbidden)], 200))),
                None,
                "{forbidden}"
            );
        }
        assert_eq!(ttl(cache.cacheable(&response(&[("set-cookie", "a=b")], 200))), None);
        assert_eq!(ttl(cache.cacheable(&response(&[("vary", "accept-language")], 200))), None);
        assert_eq!(ttl(cache.cacheable(&response(&[], 404))), None);
    }

    #[test]
    fn only_anonymous_bodiless_gets_of_cached_paths_apply() {
        let cache = MicroCache::new(CacheConfig::default());
        let request = |method: &str, path: &str, headers: &[(&str, &str)]| {
            let mut request = RequestHeader::build(method, path.as_bytes(), None).expect("a request");
            for (name, value) in headers {
                request.insert_header(name.to_string(), *value).expect("a header");
            }
            request
        };
        assert!(cache.applies(&request("GET", "/api/v1/catalog/products?limit=3", &[])));
        assert!(!cache.applies(&request("POST", "/api/v1/catalog/products", &[])));
        assert!(!cache.applies(&request("GET", "/api/v1/cart", &[])));
        assert!(!cache.applies(&request("GET", "/api/v1/catalog/products", &[("authorization", "Bearer x")])));
        assert!(!cache.applies(&request("GET", "/api/v1/catalog/products", &[("cookie", "s=1")])));
        assert!(!cache.applies(&request("GET", "/api/v1/catalog/products", &[("content-length", "4")])));
        let a = MicroCache::key(&request("GET", "/api/v1/catalog/products?a=1", &[("host", "shop.pola.lk")]));
        let b = MicroCache::key(&request("GET", "/api/v1/catalog/products?a=2", &[("host", "shop.pola.lk")]));
        assert_ne!(a.primary_key(), b.primary_key());
    }
}
