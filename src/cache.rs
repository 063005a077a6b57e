//! The favorites cache: pages of the account's favorites, pre-serialized
//! with their ETag; a local tier bounded in bytes and, with a [`Fleet`]
//! (`PIXGATE_REDIS_URL`), a shared tier in Redis in front of the upstream.
//!
//! # Who owns what
//! moka owns the local pages (its own sharded locks); [`Flights`] owns the
//! fills in progress on this replica. A miss joins the fill running for its
//! key or starts one, in a spawned task: concurrent misses for one key make
//! one upstream call and share its outcome, success or failure (moka's own
//! coalescing would hand an error to the leader only and let every waiter
//! fetch again in turn). Because the fill runs in its own task, a client
//! that disconnects cancels nothing for the callers waiting with it. No
//! other lock is needed: a fill's outcome reaches its waiters through the
//! flight, and its page reaches later readers through moka (and Redis).
//!
//! With a fleet, Redis owns the shared pages and the generations
//! (`src/fleet/favorites.rs`): a page is written there only by the fill that
//! fetched it and only by a compare-and-set on its generation, so replicas
//! need no lock between them either. Two replicas missing the same page at
//! once may both fetch it (coalescing is per replica, as the issue asks);
//! both store the same page, and both are counted as misses, which they are.
//!
//! # Freshness
//! Entries live for `ttl + stale_grace`: past `ttl` a page is refetched, but
//! if the upstream fails meanwhile the old page is served as `STALE` to every
//! caller of that one fill. A `Cache-Control: no-cache` read (`force`) has
//! fills of its own (it never joins a plain fill that may have started
//! before it) and is never answered from the cache while the upstream
//! answers: an error it sent is passed on; only when it did not answer at
//! all (a timeout, a refused connection) does the read fall back to a page
//! within grace.
//!
//! # Generations: a change is seen by the next read on every replica
//! A change of the favorites (a favorite set or toggled, an image deleted, a
//! login or logout) goes through [`FavoritesCache::invalidate`] before and
//! after it: that bumps this replica's local epoch (part of every local key,
//! so a fill that started before the change puts its page under a key no
//! one reads, and no caller after the change joins it) and, with a fleet,
//! `INCR`s the shared generation of that provider's account and publishes
//! it on [`Channel::Favorites`].
//!
//! Every read on a replica with a fleet first GETs the current generation
//! (one round trip of a few bytes) and serves a local page only if it was
//! filled under that generation. That is the trade-off: one cheap Redis
//! round trip per read, instead of trusting the local tier for its TTL and
//! serving, for up to that long, a page another replica just changed. The
//! pub/sub notification alone cannot give "the next read is fresh": it
//! races the next read and may be lost while the subscription reconnects.
//! It is still sent: it frees the local tiers of pages no one will read,
//! and a replica whose subscription dropped ([`Event::Resubscribed`]) clears
//! its local tier, since it may have missed anything.
//!
//! # Redis down
//! A read whose generation GET fails serves a local page only within
//! [`LOCAL_TRUST`] of storing it (the short local TTL: what the local tier is
//! trusted for without asking Redis), else fills from the upstream directly,
//! and still falls back to a stale local page when the upstream fails. For
//! [`REDIS_PAUSE`] after a failed call, reads do not try Redis (a dead
//! server must not add a timeout to every read). No read fails because Redis
//! is down, and nothing is counted as a hit that was not one. A bump that
//! failed is kept and retried (every [`REDIS_PAUSE`], and before the next
//! read) until Redis takes it; until then other replicas may serve the
//! page from before the change, the one window no replica can close alone.

use crate::fleet::favorites::{SharedFavorites, SharedPage};
use crate::fleet::{Channel, Event, Fleet};
use crate::flight::{Flights, Role};
use crate::imgur::{Error, ErrorKind, RateLimits};
use crate::metrics::{CacheEvent, Metrics};
use crate::model::FavoritesSort;
use bytes::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;

/// Fixed per-entry overhead counted against the byte budget.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// How long a local page is served without asking Redis for its
/// generation, when Redis cannot be asked (or the fresh TTL, if shorter).
pub const LOCAL_TRUST: Duration = Duration::from_secs(1);

/// How long reads leave Redis alone after a failed call; also the pause
/// between retries of a bump Redis did not take.
pub const REDIS_PAUSE: Duration = Duration::from_secs(1);

/// Which provider a page is from: part of every key, so the two
/// providers' pages never mix even for accounts of one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Imgur,
    Flickr,
}

impl Provider {
    /// The name in Redis keys and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imgur => "imgur",
            Self::Flickr => "flickr",
        }
    }
}

/// Whose favorites: one account on one provider, the unit a change
/// invalidates (its generation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub provider: Provider,
    pub account: String,
}

impl Scope {
    pub fn new(provider: Provider, account: &str) -> Self {
        Self {
            provider,
            account: account.to_owned(),
        }
    }
}

/// Which page of whose favorites, under this replica's local epoch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey {
    scope: Scope,
    epoch: u64,
    page: u32,
    sort: FavoritesSort,
    /// Flickr pages also differ by their size (0 for Imgur's).
    per_page: u32,
}

impl PageKey {
    /// The page's parameters as the shared tier names them.
    fn params(&self) -> String {
        match self.scope.provider {
            Provider::Imgur => format!("{}:{}", self.page, self.sort.as_str()),
            Provider::Flickr => format!("{}:{}", self.page, self.per_page),
        }
    }
}

/// A cached page: the upstream's page bytes, ready to send.
#[derive(Debug)]
pub struct CachedPage {
    pub body: Bytes,
    /// A strong ETag, quoted.
    pub etag: String,
    /// The upstream's limits when this replica fetched the page (none for
    /// a page another replica fetched).
    pub rate_limits: RateLimits,
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
        }
    }
}

/// How a page was obtained, sent as `X-Cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// From the local or the shared tier, or from a fill another read
    /// started.
    Hit,
    Miss,
    /// Expired, served because the upstream failed.
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

/// Where a fill found its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Local,
    Shared,
    Fetched,
    Stale,
}

/// The shared generation a read validates local pages against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Generation {
    /// No fleet: the local tier is the whole cache.
    Alone,
    /// The current shared generation of the page's scope.
    Current(u64),
    /// Redis did not answer: only [`LOCAL_TRUST`] vouches for a local page.
    Unknown,
}

/// A local page with its deadlines (monotonic, converted from the shared
/// tier's wall-clock ones on arrival).
#[derive(Clone, Debug)]
struct Entry {
    page: Arc<CachedPage>,
    /// The shared generation it was filled under; `None` without a fleet or
    /// when Redis could not tell.
    generation: Option<u64>,
    fresh_until: Instant,
    stale_until: Instant,
    stored_at: Instant,
}

impl Entry {
    fn fetched(page: CachedPage, generation: Option<u64>, ttl: Duration, grace: Duration) -> Self {
        let now = Instant::now();
        Self {
            page: Arc::new(page),
            generation,
            fresh_until: now + ttl,
            stale_until: now + ttl + grace,
            stored_at: now,
        }
    }

    fn from_shared(shared: SharedPage, generation: u64) -> Self {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let until = |deadline: SystemTime| now + deadline.duration_since(wall).unwrap_or_default();
        Self {
            page: Arc::new(CachedPage {
                body: Bytes::from(shared.body),
                etag: shared.etag,
                rate_limits: RateLimits::default(),
            }),
            generation: Some(generation),
            fresh_until: until(shared.fresh_until),
            stale_until: until(shared.stale_until),
            stored_at: now,
        }
    }

    fn to_shared(&self) -> SharedPage {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let at = |deadline: Instant| wall + deadline.saturating_duration_since(now);
        SharedPage {
            body: self.page.body.to_vec(),
            etag: self.page.etag.clone(),
            fresh_until: at(self.fresh_until),
            stale_until: at(self.stale_until),
        }
    }

    /// Whether a read validated by `generation` may have it as fresh.
    fn is_fresh(&self, generation: Generation, local_trust: Duration) -> bool {
        Instant::now() < self.fresh_until
            && match generation {
                Generation::Alone => true,
                Generation::Current(current) => self.generation == Some(current),
                Generation::Unknown => self.stored_at.elapsed() < local_trust,
            }
    }

    /// Whether it may be served stale when the upstream fails: within grace,
    /// and never of an older generation than the one Redis names.
    fn may_be_stale(&self, generation: Generation) -> bool {
        Instant::now() < self.stale_until
            && match generation {
                Generation::Current(current) => self.generation == Some(current),
                Generation::Alone | Generation::Unknown => true,
            }
    }
}

/// What one fill gave its callers: the page and where it came from, or the
/// error.
type Fill = Result<(Arc<CachedPage>, Source), Error>;

/// A fill's key: the page, the generation its callers validated against,
/// and whether it is a `no-cache` fill.
type FillKey = (PageKey, Generation, bool);

/// The local tier: the pages and the epoch that is part of their keys.
struct Local {
    pages: Cache<PageKey, Entry>,
    epoch: AtomicU64,
}

impl Local {
    /// Forgets every local page: no read finds one, and no fill that began
    /// before stores one where a read will look.
    fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.pages.invalidate_all();
    }
}

/// The shared tier and what this replica remembers about reaching it.
struct Shared {
    tier: SharedFavorites,
    /// Reads leave Redis alone until then (after a failed call).
    paused_until: Mutex<Option<Instant>>,
    /// Bumps Redis did not take yet, retried until it does.
    unsent_bumps: Mutex<HashSet<Scope>>,
    /// Whether a task is retrying `unsent_bumps`.
    retrying: AtomicBool,
}

impl Shared {
    fn is_paused(&self) -> bool {
        lock(&self.paused_until).is_some_and(|until| Instant::now() < until)
    }

    fn pause(&self) {
        *lock(&self.paused_until) = Some(Instant::now() + REDIS_PAUSE);
    }

    async fn bump(&self, scope: &Scope) -> bool {
        match self
            .tier
            .bump(scope.provider.as_str(), &scope.account)
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, provider = scope.provider.as_str(), "could not tell other replicas of a favorites change; retrying");
                self.pause();
                false
            }
        }
    }

    /// Sends the bumps Redis did not take; whether none is left.
    async fn send_unsent_bumps(&self) -> bool {
        let unsent: Vec<Scope> = lock(&self.unsent_bumps).iter().cloned().collect();
        for scope in unsent {
            if !self.bump(&scope).await {
                return false;
            }
            lock(&self.unsent_bumps).remove(&scope);
        }
        true
    }

    /// Keeps `scope`'s bump until Redis takes it, retrying in a task.
    fn keep_unsent(self: &Arc<Self>, scope: Scope) {
        lock(&self.unsent_bumps).insert(scope);
        if self.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.retrying.store(false, Ordering::Release);
            return;
        };
        let shared = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(REDIS_PAUSE).await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if shared.send_unsent_bumps().await {
                    shared.retrying.store(false, Ordering::Release);
                    // A bump kept after the last look and before the flag
                    // dropped would wait for the next read: look once more.
                    if lock(&shared.unsent_bumps).is_empty()
                        || shared.retrying.swap(true, Ordering::AcqRel)
                    {
                        return;
                    }
                }
            }
        });
    }
}

/// The favorites cache; cheap to clone (clones share the pages, the fills
/// and the generations).
#[derive(Clone)]
pub struct FavoritesCache {
    local: Arc<Local>,
    fills: Flights<FillKey, Fill>,
    shared: Option<Arc<Shared>>,
    ttl: Duration,
    stale_grace: Duration,
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
            .eviction_listener(move |_key, _entry, cause| {
                if cause.was_evicted() {
                    evictions.cache(CacheEvent::Eviction);
                }
            })
            .max_capacity(max_bytes)
            .weigher(|key: &PageKey, entry: &Entry| {
                let bytes = entry.page.body.len() + key.scope.account.len() + ENTRY_OVERHEAD_BYTES;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl + stale_grace)
            .build();
        Self {
            local: Arc::new(Local {
                pages,
                epoch: AtomicU64::new(0),
            }),
            fills: Flights::default(),
            shared: None,
            ttl,
            stale_grace,
            metrics,
        }
    }

    /// Adds the shared tier in Redis, and a task that clears the local tier
    /// on every favorites notification and whenever the subscription was
    /// down (it may have missed one). Needs a Tokio runtime.
    pub fn with_fleet(mut self, fleet: Fleet) -> Self {
        let mut events = fleet.events();
        let local: Weak<Local> = Arc::downgrade(&self.local);
        tokio::spawn(async move {
            loop {
                let event = events.recv().await;
                let Some(local) = local.upgrade() else {
                    return;
                };
                match event {
                    Ok(Event::Message {
                        channel: Channel::Favorites,
                        ..
                    }) => local.clear(),
                    Ok(Event::Resubscribed) | Err(RecvError::Lagged(_)) => {
                        tracing::info!("the favorites notifications were interrupted; clearing the local favorites cache");
                        local.clear();
                    }
                    Ok(Event::Message { .. }) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
        self.shared = Some(Arc::new(Shared {
            tier: SharedFavorites::new(fleet),
            paused_until: Mutex::new(None),
            unsent_bumps: Mutex::new(HashSet::new()),
            retrying: AtomicBool::new(false),
        }));
        self
    }

    /// The key of an Imgur favorites page.
    pub fn key(&self, account: &str, page: u32, sort: FavoritesSort) -> PageKey {
        PageKey {
            scope: Scope::new(Provider::Imgur, account),
            epoch: self.local.epoch.load(Ordering::Acquire),
            page,
            sort,
            per_page: 0,
        }
    }

    /// The key of a Flickr favorites page (Flickr lists newest first).
    pub fn flickr_key(&self, user_nsid: &str, page: u32, per_page: u32) -> PageKey {
        PageKey {
            scope: Scope::new(Provider::Flickr, user_nsid),
            per_page,
            ..self.key(user_nsid, page, FavoritesSort::Newest)
        }
    }

    /// How long a local page is trusted without Redis's word.
    fn local_trust(&self) -> Duration {
        match self.shared {
            Some(_) => LOCAL_TRUST.min(self.ttl),
            None => self.ttl,
        }
    }

    /// The generation local pages of `scope` are validated against now.
    async fn generation(&self, scope: &Scope) -> Generation {
        let Some(shared) = &self.shared else {
            return Generation::Alone;
        };
        if shared.is_paused() || !shared.send_unsent_bumps().await {
            return Generation::Unknown;
        }
        match shared
            .tier
            .generation(scope.provider.as_str(), &scope.account)
            .await
        {
            Ok(generation) => Generation::Current(generation),
            Err(_) => {
                shared.pause();
                Generation::Unknown
            }
        }
    }

    /// The page for `key`: fresh from the local tier, or from the shared
    /// one, or fetched with `fetch` by the one fill running for the key on
    /// this replica (always when `force`, a `no-cache` read), or stale when
    /// that fill fails with an upstream failure and an expired page of the
    /// current generation is still within its grace (for `force`, only when
    /// the upstream did not answer at all).
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
        let generation = self.generation(&key.scope).await;
        let trust = self.local_trust();
        if !force {
            if let Some(entry) = self.local.pages.get(&key).await {
                if entry.is_fresh(generation, trust) {
                    self.metrics.cache(CacheEvent::Hit);
                    return Ok((entry.page, CacheStatus::Hit));
                }
            }
        }
        let fill_key = (key.clone(), generation, force);
        let fill = Filling {
            key,
            generation,
            force,
            trust,
            ttl: self.ttl,
            stale_grace: self.stale_grace,
            local: Arc::clone(&self.local),
            shared: self.shared.clone(),
        };
        let span = tracing::Span::current();
        let (outcome, role) = self
            .fills
            .join(fill_key, move || fill.run(fetch).instrument(span));
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
        let (page, source) = result?;
        // The callers that joined a fill which fetched got a page they did
        // not fetch themselves: a hit, like a read just after the fill.
        let (event, status) = match (source, role) {
            (Source::Local, _) | (Source::Fetched, Role::Joined) => {
                (CacheEvent::Hit, CacheStatus::Hit)
            }
            (Source::Shared, _) => (CacheEvent::SharedHit, CacheStatus::Hit),
            (Source::Fetched, Role::Led) => (CacheEvent::Miss, CacheStatus::Miss),
            (Source::Stale, _) => (CacheEvent::Stale, CacheStatus::Stale),
        };
        self.metrics.cache(event);
        Ok((page, status))
    }

    /// Forgets `scope`'s pages everywhere (around a change of its
    /// favorites): clears the local tier and, with a fleet, bumps the
    /// shared generation and tells the other replicas. A bump Redis does
    /// not take is kept and retried (see the module docs); this never fails.
    pub async fn invalidate(&self, scope: &Scope) {
        self.local.clear();
        if let Some(shared) = &self.shared {
            if !shared.bump(scope).await {
                shared.keep_unsent(scope.clone());
            }
        }
    }

    /// [`FavoritesCache::invalidate`] from code that cannot wait (a guard's
    /// drop): clears the local tier now and bumps the shared generation in
    /// the background.
    pub fn invalidate_soon(&self, scope: Scope) {
        self.local.clear();
        if let Some(shared) = &self.shared {
            shared.keep_unsent(scope);
        }
    }

    /// Forgets this replica's local pages only (another process changed the
    /// authorization: the replica that changed it bumped the generations).
    pub fn clear_local(&self) {
        self.local.clear();
    }
}

/// One fill's work, run in the flight's task.
struct Filling {
    key: PageKey,
    generation: Generation,
    force: bool,
    trust: Duration,
    ttl: Duration,
    stale_grace: Duration,
    local: Arc<Local>,
    shared: Option<Arc<Shared>>,
}

impl Filling {
    async fn run<F, Fut>(self, fetch: F) -> Fill
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedPage, Error>>,
    {
        let existing = self.local.pages.get(&self.key).await;
        if let Some(entry) = &existing {
            // A fill for this key finished between the caller's check and
            // this one.
            if !self.force && entry.is_fresh(self.generation, self.trust) {
                return Ok((Arc::clone(&entry.page), Source::Local));
            }
        }
        let mut stale = existing.filter(|entry| entry.may_be_stale(self.generation));
        if let (Generation::Current(generation), Some(shared), false) =
            (self.generation, &self.shared, self.force)
        {
            let scope = &self.key.scope;
            match shared
                .tier
                .read(
                    scope.provider.as_str(),
                    &scope.account,
                    generation,
                    &self.key.params(),
                )
                .await
            {
                Ok(Some(page)) => {
                    let entry = Entry::from_shared(page, generation);
                    if entry.is_fresh(self.generation, self.trust) {
                        self.local.pages.insert(self.key, entry.clone()).await;
                        return Ok((entry.page, Source::Shared));
                    }
                    if stale.is_none() && entry.may_be_stale(self.generation) {
                        stale = Some(entry);
                    }
                }
                Ok(None) => {}
                Err(_) => shared.pause(),
            }
        }
        match fetch().await {
            Ok(page) => {
                let known = match self.generation {
                    Generation::Current(generation) => Some(generation),
                    Generation::Alone | Generation::Unknown => None,
                };
                let entry = Entry::fetched(page, known, self.ttl, self.stale_grace);
                if self.share(&entry).await {
                    self.local.pages.insert(self.key, entry.clone()).await;
                }
                Ok((entry.page, Source::Fetched))
            }
            Err(e) if may_serve_stale(&e, self.force) => match stale {
                Some(entry) => {
                    tracing::warn!(error = %e, "the upstream failed; serving the stale favorites page");
                    Ok((entry.page, Source::Stale))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Stores a fetched page in the shared tier; whether to keep it locally
    /// too: not when a change bumped the generation since this fill began
    /// (its page may be from before the change).
    async fn share(&self, entry: &Entry) -> bool {
        let (Generation::Current(generation), Some(shared)) = (self.generation, &self.shared)
        else {
            return true;
        };
        let scope = &self.key.scope;
        let stored = shared
            .tier
            .store(
                scope.provider.as_str(),
                &scope.account,
                generation,
                &self.key.params(),
                &entry.to_shared(),
            )
            .await;
        match stored {
            Ok(stored) => stored,
            // Kept under its generation: reads that reach Redis serve it
            // only while that generation is current.
            Err(_) => {
                shared.pause();
                true
            }
        }
    }
}

/// Whether a fill that failed with `e` may answer an expired page: when
/// the upstream is failing, and for a `no-cache` read only when it did not
/// answer at all (it asked for the upstream's answer, and it gave one).
fn may_serve_stale(e: &Error, force: bool) -> bool {
    e.is_upstream_failure() && !(force && e.upstream_status.is_some())
}

/// The sets behind these locks change by single operations, so a panic
/// elsewhere cannot leave them half-changed: a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn page(body: &'static str) -> CachedPage {
        CachedPage::new(Bytes::from_static(body.as_bytes()), RateLimits::default())
    }

    #[test]
    fn a_page_of_another_generation_is_neither_fresh_nor_stale() {
        let entry = Entry::fetched(
            page("[]"),
            Some(3),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let trust = LOCAL_TRUST;
        assert!(entry.is_fresh(Generation::Current(3), trust));
        assert!(!entry.is_fresh(Generation::Current(4), trust));
        assert!(!entry.may_be_stale(Generation::Current(4)));
        let unknown = Entry::fetched(
            page("[]"),
            None,
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        assert!(
            !unknown.is_fresh(Generation::Current(0), trust),
            "a page filled while Redis could not tell is not of any generation"
        );
    }

    #[test]
    fn without_redis_a_local_page_is_trusted_for_the_trust_window_only() {
        let mut entry = Entry::fetched(
            page("[]"),
            Some(1),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        assert!(entry.is_fresh(Generation::Unknown, LOCAL_TRUST));
        entry.stored_at = Instant::now() - LOCAL_TRUST;
        assert!(!entry.is_fresh(Generation::Unknown, LOCAL_TRUST));
        assert!(entry.is_fresh(Generation::Current(1), LOCAL_TRUST));
        assert!(
            entry.may_be_stale(Generation::Unknown),
            "served stale when the upstream fails too"
        );
    }

    #[test]
    fn a_shared_page_keeps_its_deadlines_across_replicas() {
        let fetched = Entry::fetched(
            page("[1]"),
            Some(2),
            Duration::from_secs(60),
            Duration::from_secs(600),
        );
        let arrived = Entry::from_shared(fetched.to_shared(), 2);
        let close =
            |a: Instant, b: Instant| a.max(b).duration_since(a.min(b)) < Duration::from_millis(50);
        assert!(close(arrived.fresh_until, fetched.fresh_until));
        assert!(close(arrived.stale_until, fetched.stale_until));
        assert_eq!(arrived.page.etag, fetched.page.etag);
        assert_eq!(arrived.page.body, fetched.page.body);
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
        cache.invalidate(&Scope::new(Provider::Imgur, "demo")).await;
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

        cache.local.pages.run_pending_tasks().await;

        assert!(
            cache.local.pages.weighted_size() <= budget,
            "{} bytes",
            cache.local.pages.weighted_size()
        );
        assert!(cache.local.pages.entry_count() < 100);
        assert!(cache.local.pages.entry_count() > 0);
    }
}
