//! The favorites cache: pages of the account's favorites, pre-serialized
//! with their ETag, bounded in bytes.
//!
//! # Who owns what
//! moka owns the pages (its own sharded locks); [`Flights`] owns the fills
//! in progress. A miss joins the fill running for its key or starts one, in
//! a spawned task: concurrent misses for one key make one upstream call and
//! share its outcome, success or failure (moka's own coalescing would hand
//! an error to the leader only and let every waiter fetch again in turn).
//! Because the fill runs in its own task, a client that disconnects cancels
//! nothing for the callers waiting with it. No other lock is needed: a
//! fill's outcome reaches its waiters through the flight, and its page
//! reaches later readers through moka.
//!
//! # Freshness
//! Entries live for `ttl + stale_grace`: past `ttl` a page is refetched, but
//! if Imgur fails meanwhile the old page is served as `STALE` to every
//! caller of that one fill. A `Cache-Control: no-cache` read (`force`) has
//! fills of its own (it never joins a plain fill that may have started
//! before it) and is never answered from the cache while Imgur answers: an
//! error Imgur sent is passed on; only when Imgur did not answer at all (a
//! timeout, a refused connection) does it fall back to a page within grace.
//!
//! Invalidation bumps a generation that is part of every key (and so of
//! every fill's key), so a fill that started before a favorite change
//! cannot put its old page back, and no caller after the change joins it.

use crate::flight::{Flights, Role};
use crate::imgur::{Error, ErrorKind, RateLimits};
use crate::metrics::{CacheEvent, Metrics};
use crate::model::FavoritesSort;
use bytes::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Fixed per-entry overhead counted against the byte budget.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// Which provider a page is from: part of every key, so the two
/// providers' pages never mix even for accounts of one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Imgur,
    /// Flickr pages also differ by their size.
    Flickr {
        per_page: u32,
    },
}

/// Which page of whose favorites.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey {
    provider: Provider,
    account: String,
    generation: u64,
    page: u32,
    sort: FavoritesSort,
}

/// A cached page: Imgur's `data` bytes, ready to send.
#[derive(Debug)]
pub struct CachedPage {
    pub body: Bytes,
    /// A strong ETag, quoted.
    pub etag: String,
    pub rate_limits: RateLimits,
    fetched_at: Instant,
}

impl CachedPage {
    pub fn new(body: Bytes, rate_limits: RateLimits) -> Self {
        let digest = Sha256::digest(&body);
        let etag = format!(
            "\"{}\"",
            digest[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Self {
            body,
            etag,
            rate_limits,
            fetched_at: Instant::now(),
        }
    }
}

/// How a page was obtained, sent as `X-Cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// Expired, served because Imgur failed.
    Stale,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
        }
    }
}

/// What one fill gave its callers: the page and how it was obtained (as the
/// caller that started the fill sees it), or the error.
type Fill = Result<(Arc<CachedPage>, CacheStatus), Error>;

/// A fill's key: the page, and whether it is a `no-cache` fill.
type FillKey = (PageKey, bool);

/// The favorites cache; cheap to clone (clones share the pages, the fills
/// and the generation).
#[derive(Clone)]
pub struct FavoritesCache {
    pages: Cache<PageKey, Arc<CachedPage>>,
    fills: Flights<FillKey, Fill>,
    ttl: Duration,
    generation: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl FavoritesCache {
    pub fn new(
        ttl: Duration,
        stale_grace: Duration,
        max_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        let evictions = Arc::clone(&metrics);
        let pages = Cache::builder()
            .eviction_listener(move |_key, _page, cause| {
                if cause.was_evicted() {
                    evictions.cache(CacheEvent::Eviction);
                }
            })
            .max_capacity(max_bytes)
            .weigher(|key: &PageKey, page: &Arc<CachedPage>| {
                let bytes = page.body.len() + key.account.len() + ENTRY_OVERHEAD_BYTES;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl + stale_grace)
            .build();
        Self {
            pages,
            fills: Flights::default(),
            ttl,
            generation: Arc::default(),
            metrics,
        }
    }

    /// The key of a page under the current generation.
    pub fn key(&self, account: &str, page: u32, sort: FavoritesSort) -> PageKey {
        PageKey {
            provider: Provider::Imgur,
            account: account.to_owned(),
            generation: self.generation.load(Ordering::Acquire),
            page,
            sort,
        }
    }

    /// The key of a Flickr favorites page (Flickr lists newest first) under
    /// the current generation.
    pub fn flickr_key(&self, user_nsid: &str, page: u32, per_page: u32) -> PageKey {
        PageKey {
            provider: Provider::Flickr { per_page },
            ..self.key(user_nsid, page, FavoritesSort::Newest)
        }
    }

    /// The page for `key`: fresh from the cache, or fetched with `fetch` by
    /// the one fill running for the key (always when `force`, a `no-cache`
    /// read), or stale when that fill fails with an upstream failure and an
    /// expired page is still within its grace (for `force`, only when Imgur
    /// did not answer at all).
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: PageKey,
        force: bool,
        fetch: F,
    ) -> Result<(Arc<CachedPage>, CacheStatus), Error>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<CachedPage, Error>> + Send + 'static,
    {
        let ttl = self.ttl;
        if !force {
            if let Some(page) = self.pages.get(&key).await {
                if page.fetched_at.elapsed() < ttl {
                    self.metrics.cache(CacheEvent::Hit);
                    return Ok((page, CacheStatus::Hit));
                }
            }
        }
        let fill_key = (key.clone(), force);
        let pages = self.pages.clone();
        let span = tracing::Span::current();
        let fill = move || {
            async move {
                let existing = pages.get(&key).await;
                if let Some(page) = &existing {
                    // A fill for this key finished between the check
                    // above and this one.
                    if !force && page.fetched_at.elapsed() < ttl {
                        return Ok((Arc::clone(page), CacheStatus::Hit));
                    }
                }
                match fetch().await {
                    Ok(page) => {
                        let page = Arc::new(page);
                        pages.insert(key, Arc::clone(&page)).await;
                        Ok((page, CacheStatus::Miss))
                    }
                    Err(e) if may_serve_stale(&e, force) => match existing {
                        Some(page) => {
                            tracing::warn!(error = %e, "Imgur failed; serving the stale favorites page");
                            Ok((page, CacheStatus::Stale))
                        }
                        None => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
            .instrument(span)
        };
        let (outcome, role) = self.fills.join(fill_key, fill);
        if role == Role::Joined {
            self.metrics.cache(CacheEvent::Joined);
        }
        let outcome = outcome.await;
        let result = outcome.unwrap_or_else(|crashed| {
            tracing::error!(error = %crashed, "favorites cache fill failed");
            Err(Error::local(ErrorKind::Unreachable(
                "the favorites fetch failed unexpectedly".into(),
            )))
        });
        // The callers that joined a fill which fetched got a page they did
        // not fetch themselves: a hit, like a read just after the fill.
        let result = result.map(|(page, status)| match (status, role) {
            (CacheStatus::Miss, Role::Joined) => (page, CacheStatus::Hit),
            (status, _) => (page, status),
        });
        if let Ok((_, status)) = &result {
            self.metrics.cache(match status {
                CacheStatus::Hit => CacheEvent::Hit,
                CacheStatus::Miss => CacheEvent::Miss,
                CacheStatus::Stale => CacheEvent::Stale,
            });
        }
        result
    }

    /// Forgets every cached page (after a favorite change through the gateway).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.pages.invalidate_all();
    }
}

/// Whether a fill that failed with `e` may answer an expired page: when
/// Imgur is failing, and for a `no-cache` read only when Imgur did not
/// answer at all (it asked for Imgur's answer, and Imgur gave one).
fn may_serve_stale(e: &Error, force: bool) -> bool {
    e.is_upstream_failure() && !(force && e.upstream_status.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn page(body: &'static str) -> CachedPage {
        CachedPage::new(Bytes::from_static(body.as_bytes()), RateLimits::default())
    }

    #[tokio::test]
    async fn concurrent_misses_fetch_once() {
        let cache = Arc::new(FavoritesCache::new(
            Duration::from_secs(60),
            Duration::ZERO,
            1 << 20,
            Arc::default(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                let key = cache.key("demo", 0, FavoritesSort::Newest);
                cache
                    .get_or_fetch(key, false, move || async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(page("[]"))
                    })
                    .await
                    .map(|(_, status)| status)
            }));
        }
        let mut misses = 0;
        for task in tasks {
            if task.await.expect("joined").expect("ok") == CacheStatus::Miss {
                misses += 1;
            }
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert_eq!(misses, 1);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_failing_fetch_and_a_stale_page() {
        let cache = FavoritesCache::new(
            Duration::ZERO,
            Duration::from_secs(60),
            1 << 20,
            Arc::default(),
        );
        let key = || cache.key("demo", 0, FavoritesSort::Newest);
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = |fetches: Arc<AtomicUsize>| {
            move || async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Err::<CachedPage, _>(Error::local(ErrorKind::Timeout))
            }
        };

        // No page yet: every caller gets the one error.
        let cold = futures_util::future::join_all(
            (0..10).map(|_| cache.get_or_fetch(key(), false, failing(fetches.clone()))),
        )
        .await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(cold.iter().all(|r| matches!(
            r,
            Err(Error {
                kind: ErrorKind::Timeout,
                ..
            })
        )));

        // An expired page: every caller gets it, stale, from one fetch.
        cache
            .get_or_fetch(key(), false, || async { Ok(page("[1]")) })
            .await
            .expect("filled");
        let warm = futures_util::future::join_all(
            (0..10).map(|_| cache.get_or_fetch(key(), false, failing(fetches.clone()))),
        )
        .await;
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert!(warm.iter().all(|r| matches!(
            r,
            Ok((page, CacheStatus::Stale)) if page.body == Bytes::from_static(b"[1]")
        )));
    }

    #[tokio::test]
    async fn a_fill_that_panics_is_an_error_and_the_next_read_fetches_again() {
        let cache = FavoritesCache::new(
            Duration::from_secs(60),
            Duration::ZERO,
            1 << 20,
            Arc::default(),
        );
        let key = || cache.key("demo", 0, FavoritesSort::Newest);

        let crashed = cache
            .get_or_fetch(key(), false, || async {
                panic!("injected panic in a favorites fetch")
            })
            .await;
        let next = cache
            .get_or_fetch(key(), false, || async { Ok(page("[2]")) })
            .await;

        assert!(matches!(
            crashed,
            Err(Error {
                kind: ErrorKind::Unreachable(_),
                ..
            })
        ));
        assert!(matches!(next, Ok((_, CacheStatus::Miss))));
    }

    #[tokio::test]
    async fn an_expired_page_is_served_stale_when_imgur_fails() {
        let cache = FavoritesCache::new(
            Duration::ZERO,
            Duration::from_secs(60),
            1 << 20,
            Arc::default(),
        );
        let key = || cache.key("demo", 0, FavoritesSort::Newest);
        cache
            .get_or_fetch(key(), false, || async { Ok(page("[1]")) })
            .await
            .expect("filled");
        let (stale, status) = cache
            .get_or_fetch(key(), false, || async {
                Err(Error::local(ErrorKind::Timeout))
            })
            .await
            .expect("stale page");
        assert_eq!(status, CacheStatus::Stale);
        assert_eq!(stale.body, Bytes::from_static(b"[1]"));
        let refused = cache
            .get_or_fetch(key(), false, || async {
                Err(Error::local(ErrorKind::NotFound {
                    message: "gone".into(),
                }))
            })
            .await;
        assert!(
            refused.is_err(),
            "only upstream failures fall back to stale pages"
        );
    }

    #[tokio::test]
    async fn invalidation_makes_the_next_read_fetch() {
        let cache = FavoritesCache::new(
            Duration::from_secs(60),
            Duration::ZERO,
            1 << 20,
            Arc::default(),
        );
        let read = |body: &'static str| {
            cache.get_or_fetch(
                cache.key("demo", 0, FavoritesSort::Newest),
                false,
                move || async move { Ok(page(body)) },
            )
        };
        assert_eq!(read("a").await.expect("ok").1, CacheStatus::Miss);
        assert_eq!(read("b").await.expect("ok").1, CacheStatus::Hit);
        cache.invalidate();
        let (page, status) = read("c").await.expect("ok");
        assert_eq!(
            (status, page.body.as_ref()),
            (CacheStatus::Miss, b"c".as_ref())
        );
    }

    #[tokio::test]
    async fn the_cache_holds_no_more_than_its_byte_budget() {
        let budget = 16 * 1024;
        let cache = FavoritesCache::new(
            Duration::from_secs(60),
            Duration::ZERO,
            budget,
            Arc::default(),
        );
        for page_number in 0..100 {
            let key = cache.key("demo", page_number, FavoritesSort::Newest);
            cache
                .get_or_fetch(key, false, || async {
                    Ok(CachedPage::new(
                        Bytes::from(vec![b'x'; 1024]),
                        RateLimits::default(),
                    ))
                })
                .await
                .expect("filled");
        }

        cache.pages.run_pending_tasks().await;

        assert!(
            cache.pages.weighted_size() <= budget,
            "{} bytes",
            cache.pages.weighted_size()
        );
        assert!(cache.pages.entry_count() < 100);
        assert!(cache.pages.entry_count() > 0);
    }
}
