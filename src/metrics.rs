//! Prometheus metrics, served at `/metrics`: requests by route and status,
//! upstream calls by endpoint and status, token refreshes, cache events and
//! Imgur's remaining rate limits. Each application has its own registry
//! (no global state), shared by its workers.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Latency buckets (seconds): from a cache hit to a slow upload.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Warn when less than this share of an Imgur rate limit remains.
const LOW_RATE_LIMIT: f64 = 0.10;

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_abandoned: IntCounterVec,
    http_duration: HistogramVec,
    upstream_requests: IntCounterVec,
    upstream_duration: HistogramVec,
    token_refreshes: IntCounterVec,
    cache_events: IntCounterVec,
    rate_limit_remaining: IntGaugeVec,
    /// Imgur's limits, their resets and the credit reserve, by limit.
    rate_limit: IntGaugeVec,
    rate_limit_reset: IntGaugeVec,
    credit_reserve: IntGaugeVec,
    credit_refusals: IntCounterVec,
    redis_round_trips: IntCounterVec,
    redis_duration: HistogramVec,
    redis_resubscriptions: IntCounterVec,
    token_lock_waits: HistogramVec,
    token_lease_renewals: IntCounterVec,
    token_cas_losses: IntCounterVec,
    low_rate_limit_warned: AtomicBool,
}

/// What the favorites cache did.
#[derive(Clone, Copy, Debug)]
pub enum CacheEvent {
    /// A page served from the local tier (or from a fill another read of
    /// this replica started).
    Hit,
    /// A page served from the shared tier in Redis (another replica
    /// fetched it).
    SharedHit,
    Miss,
    Stale,
    Eviction,
    /// A read that waited for the fill already running for its page
    /// instead of starting one (counted when it starts waiting; its answer
    /// is counted as a hit or stale besides).
    Joined,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("pixgate".into()), None).unwrap_or_default();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels)
                .expect("static metric definitions are valid");
            let _ = registry.register(Box::new(vec.clone()));
            vec
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
            let vec = HistogramVec::new(opts, labels).expect("static metric definitions are valid");
            let _ = registry.register(Box::new(vec.clone()));
            vec
        };
        let gauge = IntGaugeVec::new(
            Opts::new(
                "imgur_rate_limit_remaining",
                "Imgur's remaining rate limit, as last seen (limit: user, client, post)",
            ),
            &["limit"],
        )
        .expect("static metric definitions are valid");
        let _ = registry.register(Box::new(gauge.clone()));
        let limit_gauge = |name: &str, help: &str| {
            let vec = IntGaugeVec::new(Opts::new(name, help), &["limit"])
                .expect("static metric definitions are valid");
            let _ = registry.register(Box::new(vec.clone()));
            vec
        };
        let rate_limit = limit_gauge(
            "imgur_rate_limit",
            "Imgur's rate limit, as last seen (limit: user, client, post)",
        );
        let rate_limit_reset = limit_gauge(
            "imgur_rate_limit_reset_seconds",
            "Seconds until Imgur resets the limit",
        );
        let credit_reserve = limit_gauge(
            "imgur_credit_reserve",
            "Credits of the limit pixgate keeps in reserve (PIXGATE_CREDIT_RESERVE)",
        );
        Self {
            rate_limit,
            rate_limit_reset,
            credit_reserve,
            credit_refusals: counter(
                "imgur_credit_reserve_refusals_total",
                "Calls answered 429 credit-reserve without calling Imgur, by limit",
                &["limit"],
            ),
            http_requests: counter(
                "http_requests_total",
                "Requests answered, by route, method and status",
                &["route", "method", "status"],
            ),
            http_abandoned: counter(
                "http_requests_abandoned_total",
                "Requests whose client went away before the answer, by method",
                &["method"],
            ),
            http_duration: histogram(
                "http_request_duration_seconds",
                "Time to answer a request, by route and method",
                &["route", "method"],
            ),
            upstream_requests: counter(
                "upstream_requests_total",
                "Calls to Imgur, by endpoint and status (or error)",
                &["endpoint", "status"],
            ),
            upstream_duration: histogram(
                "upstream_request_duration_seconds",
                "Time of a call to Imgur, by endpoint",
                &["endpoint"],
            ),
            token_refreshes: counter(
                "token_refreshes_total",
                "Access-token refreshes, by outcome (ok, rejected, failed)",
                &["outcome"],
            ),
            cache_events: counter(
                "favorites_cache_events_total",
                "Favorites cache hits (local tier), shared_hits (Redis tier), misses, stale answers, evictions, and reads that joined a running fill",
                &["event"],
            ),
            redis_round_trips: counter(
                "redis_round_trips_total",
                "Round trips to Redis (PIXGATE_REDIS_URL), by operation and outcome (ok, error)",
                &["operation", "outcome"],
            ),
            redis_duration: histogram(
                "redis_round_trip_duration_seconds",
                "Time of a round trip to Redis, by operation",
                &["operation"],
            ),
            redis_resubscriptions: counter(
                "redis_resubscriptions_total",
                "Times the Redis notification subscription dropped and was reopened",
                &[],
            ),
            token_lock_waits: histogram(
                "token_lock_wait_seconds",
                "Time spent waiting for the shared token lock, by outcome (acquired, failed)",
                &["outcome"],
            ),
            token_lease_renewals: counter(
                "token_lock_lease_renewals_total",
                "Renewals of the shared token lock's lease, by outcome (renewed, lost, error)",
                &["outcome"],
            ),
            token_cas_losses: counter(
                "token_record_cas_losses_total",
                "Token saves refused because another replica wrote first (kept as candidates)",
                &[],
            ),
            rate_limit_remaining: gauge,
            registry,
            low_rate_limit_warned: AtomicBool::new(false),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// One answered request.
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    /// A request whose client went away before it was answered.
    pub fn http_request_abandoned(&self, method: &str) {
        self.http_abandoned.with_label_values(&[method]).inc();
    }

    /// One call to Imgur; `status` is the HTTP status or a failure kind.
    pub fn upstream_call(&self, endpoint: &str, status: &str, elapsed: Duration) {
        self.upstream_requests
            .with_label_values(&[endpoint, status])
            .inc();
        self.upstream_duration
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }

    /// One round trip to Redis.
    pub fn redis_round_trip(&self, operation: &str, ok: bool, elapsed: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.redis_round_trips
            .with_label_values(&[operation, outcome])
            .inc();
        self.redis_duration
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
    }

    /// The Redis subscription was reopened after a drop.
    pub fn redis_resubscribed(&self) {
        self.redis_resubscriptions
            .with_label_values::<&str>(&[])
            .inc();
    }

    /// One wait for the shared token lock: `acquired` or `failed`.
    pub fn token_lock_wait(&self, outcome: &str, waited: Duration) {
        self.token_lock_waits
            .with_label_values(&[outcome])
            .observe(waited.as_secs_f64());
    }

    /// One renewal of the token lock's lease: `renewed`, `lost` or `error`.
    pub fn token_lease_renewal(&self, outcome: &str) {
        self.token_lease_renewals
            .with_label_values(&[outcome])
            .inc();
    }

    /// A token save that lost the compare-and-set.
    pub fn token_cas_loss(&self) {
        self.token_cas_losses.with_label_values::<&str>(&[]).inc();
    }

    /// One token refresh: `ok`, `rejected` or `failed`.
    pub fn token_refresh(&self, outcome: &str) {
        self.token_refreshes.with_label_values(&[outcome]).inc();
    }

    pub fn cache(&self, event: CacheEvent) {
        let label = match event {
            CacheEvent::Hit => "hit",
            CacheEvent::SharedHit => "shared_hit",
            CacheEvent::Miss => "miss",
            CacheEvent::Stale => "stale",
            CacheEvent::Eviction => "eviction",
            CacheEvent::Joined => "joined",
        };
        self.cache_events.with_label_values(&[label]).inc();
    }

    /// The credit guard's view of one limit (`user`, `client` or `post`).
    pub fn credit_budget(
        &self,
        which: &str,
        limit: Option<u64>,
        remaining: Option<i64>,
        reset_in: Option<u64>,
        reserve: Option<u64>,
    ) {
        let set = |gauge: &IntGaugeVec, value: Option<u64>| {
            if let Some(value) = value {
                gauge
                    .with_label_values(&[which])
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            }
        };
        set(&self.rate_limit, limit);
        set(&self.rate_limit_reset, reset_in);
        set(&self.credit_reserve, reserve);
        if let Some(remaining) = remaining {
            self.rate_limit(which, remaining, limit.and_then(|l| i64::try_from(l).ok()));
        }
    }

    /// A call the credit guard refused.
    pub fn credit_refusal(&self, which: &str) {
        self.credit_refusals.with_label_values(&[which]).inc();
    }

    /// Imgur's remaining rate limit (`user`, `client` or `post`) out of
    /// `limit`; warns once when it drops under 10 %.
    pub fn rate_limit(&self, which: &str, remaining: i64, limit: Option<i64>) {
        self.rate_limit_remaining
            .with_label_values(&[which])
            .set(remaining);
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return;
        };
        let low = (remaining as f64) < (limit as f64) * LOW_RATE_LIMIT;
        if low && !self.low_rate_limit_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                limit = which,
                remaining,
                of = limit,
                "Imgur's remaining rate limit is under 10 %"
            );
        } else if !low && which == "user" {
            self.low_rate_limit_warned.store(false, Ordering::Relaxed);
        }
    }
}
