//! Imgur's credit budget as pixgate sees it, and the guard that keeps calls
//! out of the reserve (`PIXGATE_CREDIT_RESERVE`).
//!
//! Imgur counts three limits: the user's (`X-RateLimit-User*`, per hour,
//! per IP without a login), the app's (`X-RateLimit-Client*`, per day; an
//! app that exhausts it five times a month is blocked for the rest of the
//! month) and POSTs (`X-Post-Rate-Limit-*`, per hour). A call costs 1
//! credit, an upload 10, and a POST also one of the POST limit. Every
//! answer's headers update the budget; `GET /3/credits` fills it when
//! nothing is known yet (at the first call).
//!
//! Concurrency: [`CreditGuard`] is the one owner of the budget; every call
//! reserves its cost before it is sent (so concurrent calls see each
//! other's credits as in flight) and settles from the answer's headers. The
//! in-process budget ([`LocalBudget`]) keeps the counters behind one
//! `std::sync::Mutex` whose critical sections are a few comparisons and
//! never span an `.await`; no other lock is needed because nothing else
//! holds the counters. A shared budget (several replicas) implements
//! [`CreditBudget`] elsewhere. A reservation whose call is dropped midway
//! settles on drop as spent.
//!
//! Answers can arrive out of order, so within one window the lowest
//! remaining count seen wins; a later reset time or a changed limit starts
//! a new window. Once a window's reset passes, its remaining count returns
//! to the limit until an answer says otherwise.

use super::error::{Error, ErrorKind, RateLimits};
use super::wire::reset_seconds;
use crate::metrics::Metrics;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use utoipa::ToSchema;

/// Credits an upload costs.
pub const UPLOAD_CREDITS: u64 = 10;
/// `Retry-After` when a refused limit's reset is unknown.
const UNKNOWN_RESET_SECS: u64 = 3600;
/// A reset this much later than the one known starts a new window (reset
/// headers given in seconds drift by a second or two between answers).
const NEW_WINDOW_SLACK_SECS: u64 = 60;
/// After a failed `GET /3/credits`, wait this long before asking again.
const LEARN_RETRY: Duration = Duration::from_secs(60);

/// `PIXGATE_CREDIT_RESERVE`: how much of each limit pixgate never spends.
/// `5%` (the default; any percentage from 0 to 100, decimals allowed) keeps
/// that share of each limit; a whole number keeps that many credits of
/// each; `0` or `0%` turns the guard off.
#[derive(Clone, Debug, PartialEq)]
pub enum Reserve {
    Percent(f64),
    Credits(u64),
}

impl Default for Reserve {
    fn default() -> Self {
        Self::Percent(5.0)
    }
}

impl Reserve {
    /// Whether the guard is off (calls are never refused).
    pub fn is_off(&self) -> bool {
        match self {
            Self::Percent(p) => *p <= 0.0,
            Self::Credits(n) => *n == 0,
        }
    }

    /// Credits kept back of a limit; `None` for a share of an unknown limit.
    pub fn credits(&self, limit: Option<u64>) -> Option<u64> {
        match self {
            Self::Credits(n) => Some(*n),
            Self::Percent(p) => limit.map(|l| (l as f64 * p / 100.0).ceil() as u64),
        }
    }
}

impl fmt::Display for Reserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent(p) => write!(f, "{p}%"),
            Self::Credits(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Reserve {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let refused = || {
            format!("{raw:?} is not a credit reserve: give a percentage of each limit (\"5%\", 0 to 100) or a number of credits (\"100\"); 0 turns the guard off")
        };
        if let Some(percent) = raw.strip_suffix('%') {
            let p: f64 = percent.trim().parse().map_err(|_| refused())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(refused());
            }
            return Ok(Self::Percent(p));
        }
        raw.parse().map(Self::Credits).map_err(|_| refused())
    }
}

/// One of Imgur's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    User,
    Client,
    Post,
}

impl Pool {
    const ALL: [Pool; 3] = [Pool::User, Pool::Client, Pool::Post];

    pub fn label(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
            Self::Post => "post",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a call costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    credits: u64,
    post: bool,
}

impl Cost {
    /// An upload costs [`UPLOAD_CREDITS`], any other call 1; a POST also
    /// takes one of the POST limit.
    pub fn of(upload: bool, post: bool) -> Self {
        Self {
            credits: if upload { UPLOAD_CREDITS } else { 1 },
            post,
        }
    }

    fn of_pool(self, pool: Pool) -> u64 {
        match pool {
            Pool::User | Pool::Client => self.credits,
            Pool::Post => u64::from(self.post),
        }
    }
}

/// What one answer said about one limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub limit: Option<u64>,
    pub remaining: Option<i64>,
    /// Unix seconds.
    pub reset_at: Option<u64>,
}

/// What one answer said about every limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observation([Seen; 3]);

impl Observation {
    /// From an answer's `X-RateLimit-*` and `X-Post-Rate-Limit-*` headers;
    /// `None` when it had none.
    pub fn from_headers(headers: &RateLimits) -> Option<Self> {
        let now = unix_now();
        let number = |name: &str| headers.number(name);
        let reset = |name: &str| {
            headers
                .0
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| reset_seconds(v))
                .map(|secs| now + secs)
        };
        let seen = |limit: &str, remaining: &str, reset_name: &str| Seen {
            limit: number(limit).and_then(|n| u64::try_from(n).ok()),
            remaining: number(remaining),
            reset_at: reset(reset_name),
        };
        let observation = Self([
            seen(
                "x-ratelimit-userlimit",
                "x-ratelimit-userremaining",
                "x-ratelimit-userreset",
            ),
            seen(
                "x-ratelimit-clientlimit",
                "x-ratelimit-clientremaining",
                "x-ratelimit-clientreset",
            ),
            seen(
                "x-post-rate-limit-limit",
                "x-post-rate-limit-remaining",
                "x-post-rate-limit-reset",
            ),
        ]);
        (observation != Self::default()).then_some(observation)
    }

    /// From `GET /3/credits`'s data (`UserLimit`, `UserRemaining`,
    /// `UserReset`, `ClientLimit`, `ClientRemaining`).
    pub fn from_credits(data: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(data).ok()?;
        let number = |name: &str| {
            let field = value.get(name)?;
            field
                .as_i64()
                .or_else(|| field.as_str().and_then(|s| s.trim().parse().ok()))
        };
        let now = unix_now();
        let reset = number("UserReset")
            .and_then(|n| reset_seconds(&n.to_string()))
            .map(|secs| now + secs);
        let observation = Self([
            Seen {
                limit: number("UserLimit").and_then(|n| u64::try_from(n).ok()),
                remaining: number("UserRemaining"),
                reset_at: reset,
            },
            Seen {
                limit: number("ClientLimit").and_then(|n| u64::try_from(n).ok()),
                remaining: number("ClientRemaining"),
                reset_at: None,
            },
            Seen::default(),
        ]);
        (observation != Self::default()).then_some(observation)
    }

    /// This observation, plus what `other` knows that it does not.
    pub fn or(mut self, other: Option<Self>) -> Self {
        if let Some(other) = other {
            for (mine, theirs) in self.0.iter_mut().zip(other.0) {
                mine.limit = mine.limit.or(theirs.limit);
                mine.remaining = mine.remaining.or(theirs.remaining);
                mine.reset_at = mine.reset_at.or(theirs.reset_at);
            }
        }
        self
    }
}

/// How a reserved call ended.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// Imgur answered with these headers.
    Seen(&'a Observation),
    /// Imgur answered without rate-limit headers, or the call was dropped
    /// after it went out: counted as spent.
    Spent,
    /// Nothing reached Imgur (no connection).
    NotSent,
}

/// A call that would dip into the reserve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub pool: Pool,
    /// Remaining, less the credits of calls in flight.
    pub available: i64,
    pub needed: u64,
    pub reserve: u64,
    pub retry_after: u64,
}

/// One limit as known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PoolState {
    pub limit: Option<u64>,
    pub remaining: Option<i64>,
    pub reset_at: Option<u64>,
    /// Credits reserved by calls not answered yet.
    pub in_flight: u64,
}

impl PoolState {
    fn observe(&mut self, seen: Seen) {
        let limit_changed = seen.limit.is_some() && seen.limit != self.limit;
        let new_window = limit_changed
            || match (self.reset_at, seen.reset_at) {
                (Some(known), Some(new)) => new > known + NEW_WINDOW_SLACK_SECS,
                (None, _) => true,
                (Some(_), None) => false,
            };
        if let Some(limit) = seen.limit {
            self.limit = Some(limit);
        }
        if let Some(remaining) = seen.remaining {
            self.remaining = Some(match self.remaining {
                Some(known) if !new_window => known.min(remaining),
                _ => remaining,
            });
        }
        if seen.reset_at.is_some() && (new_window || self.reset_at.is_none()) {
            self.reset_at = seen.reset_at;
        }
    }

    /// A passed reset restores the limit.
    fn roll(&mut self, now: u64) {
        if self.reset_at.is_some_and(|at| at <= now) {
            self.reset_at = None;
            self.remaining = self.limit.map(|l| l as i64);
        }
    }

    fn reset_in(&self, now: u64) -> Option<u64> {
        self.reset_at.map(|at| at.saturating_sub(now))
    }
}

/// Where the counters live: in this process ([`LocalBudget`]) or shared.
pub trait CreditBudget: Send + Sync {
    /// Whether no answer has told anything yet.
    fn knows_nothing(&self) -> bool;
    /// Counts `cost` as in flight, unless it would bring a limit under
    /// `reserve` (never when the reserve is off).
    fn reserve(&self, cost: Cost, reserve: &Reserve) -> Result<(), Refusal>;
    /// Ends a reservation.
    fn settle(&self, cost: Cost, outcome: Outcome<'_>);
    /// Takes in what an answer outside a reservation said.
    fn observe(&self, observation: &Observation);
    /// Every limit as known now (user, client, post).
    fn snapshot(&self) -> [PoolState; 3];
}

/// The budget of one process. See the module docs for its lock.
#[derive(Default)]
pub struct LocalBudget {
    pools: Mutex<[PoolState; 3]>,
}

impl LocalBudget {
    fn pools(&self) -> MutexGuard<'_, [PoolState; 3]> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        roll_all(&mut pools);
        pools
    }
}

impl CreditBudget for LocalBudget {
    fn knows_nothing(&self) -> bool {
        knows_nothing(&self.pools())
    }

    fn reserve(&self, cost: Cost, reserve: &Reserve) -> Result<(), Refusal> {
        reserve_in(&mut self.pools(), cost, reserve)
    }

    fn settle(&self, cost: Cost, outcome: Outcome<'_>) {
        settle_in(&mut self.pools(), cost, outcome)
    }

    fn observe(&self, observation: &Observation) {
        observe_in(&mut self.pools(), observation)
    }

    fn snapshot(&self) -> [PoolState; 3] {
        *self.pools()
    }
}

/// Whether no answer has told anything yet about `pools`.
pub(crate) fn knows_nothing(pools: &[PoolState; 3]) -> bool {
    pools
        .iter()
        .all(|p| p.limit.is_none() && p.remaining.is_none())
}

/// [`CreditBudget::reserve`] on `pools` (rolled to now): the one rule for
/// every budget, local or shared.
pub(crate) fn reserve_in(
    pools: &mut [PoolState; 3],
    cost: Cost,
    reserve: &Reserve,
) -> Result<(), Refusal> {
    if !reserve.is_off() {
        let now = unix_now();
        for pool in Pool::ALL {
            let needed = cost.of_pool(pool);
            let state = &pools[pool.index()];
            let (Some(remaining), true) = (state.remaining, needed > 0) else {
                continue;
            };
            let kept = reserve.credits(state.limit).unwrap_or(0);
            let available = remaining - state.in_flight as i64;
            if available - (needed as i64) < kept as i64 {
                let retry_after = state
                    .reset_in(now)
                    .or_else(|| {
                        (pool == Pool::Client)
                            .then(|| pools[0].reset_in(now))
                            .flatten()
                    })
                    .unwrap_or(UNKNOWN_RESET_SECS)
                    .max(1);
                return Err(Refusal {
                    pool,
                    available,
                    needed,
                    reserve: kept,
                    retry_after,
                });
            }
        }
    }
    for pool in Pool::ALL {
        pools[pool.index()].in_flight += cost.of_pool(pool);
    }
    Ok(())
}

/// [`CreditBudget::settle`] on `pools`.
pub(crate) fn settle_in(pools: &mut [PoolState; 3], cost: Cost, outcome: Outcome<'_>) {
    for pool in Pool::ALL {
        let state = &mut pools[pool.index()];
        let needed = cost.of_pool(pool);
        state.in_flight = state.in_flight.saturating_sub(needed);
        match outcome {
            Outcome::Seen(observation) => {
                let seen = observation.0[pool.index()];
                if seen.remaining.is_some() {
                    state.observe(seen);
                } else if let Some(remaining) = state.remaining.as_mut() {
                    *remaining -= needed as i64;
                }
            }
            Outcome::Spent => {
                if let Some(remaining) = state.remaining.as_mut() {
                    *remaining -= needed as i64;
                }
            }
            Outcome::NotSent => {}
        }
    }
}

/// [`CreditBudget::observe`] on `pools`.
pub(crate) fn observe_in(pools: &mut [PoolState; 3], observation: &Observation) {
    for pool in Pool::ALL {
        pools[pool.index()].observe(observation.0[pool.index()]);
    }
}

/// Rolls every pool whose reset passed.
pub(crate) fn roll_all(pools: &mut [PoolState; 3]) {
    let now = unix_now();
    for pool in pools.iter_mut() {
        pool.roll(now);
    }
}

/// The budget as `GET /v1/rate-limits` shows it for one provider.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"reserve": "5%", "guard": true, "limits": {
    "user": {"limit": 2000, "remaining": 1990, "in_flight": 0, "reserve": 100, "reset_at": 1767225600, "reset_in": 3412},
    "client": {"limit": 12500, "remaining": 12400, "in_flight": 0, "reserve": 625, "reset_at": null, "reset_in": null},
    "post": {"limit": 1250, "remaining": 1249, "in_flight": 0, "reserve": 63, "reset_at": 1767225600, "reset_in": 3412}
}}))]
pub struct BudgetView {
    /// `PIXGATE_CREDIT_RESERVE` as in force: a percentage of each limit, or
    /// a number of credits; `0` when the guard is off.
    pub reserve: String,
    /// Whether pixgate refuses (429 `credit-reserve`) calls that would
    /// bring a limit under its reserve.
    pub guard: bool,
    /// Each limit by name (Imgur: `user`, `client`, `post`).
    pub limits: BTreeMap<String, LimitView>,
}

/// One limit as pixgate knows it; `null` where no answer has said.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LimitView {
    pub limit: Option<u64>,
    /// The lowest remaining count Imgur reported in this window, less what
    /// pixgate spent since without a report.
    pub remaining: Option<i64>,
    /// Credits reserved by calls not answered yet.
    pub in_flight: u64,
    /// Credits pixgate keeps back of this limit.
    pub reserve: Option<u64>,
    /// When the limit resets, unix seconds.
    pub reset_at: Option<u64>,
    /// Seconds until then.
    pub reset_in: Option<u64>,
}

/// The owner of the budget: reserves, settles, learns, and reports it.
pub struct CreditGuard {
    budget: Arc<dyn CreditBudget>,
    reserve: Reserve,
    metrics: Arc<Metrics>,
    /// When `GET /3/credits` was last tried; held while one runs, so
    /// concurrent first calls make one.
    learning: tokio::sync::Mutex<Option<Instant>>,
}

impl CreditGuard {
    pub fn new(reserve: Reserve, metrics: Arc<Metrics>) -> Self {
        Self::with_budget(Arc::new(LocalBudget::default()), reserve, metrics)
    }

    /// `PIXGATE_CREDIT_RESERVE` as in force.
    pub fn kept_back(&self) -> &Reserve {
        &self.reserve
    }

    pub fn with_budget(
        budget: Arc<dyn CreditBudget>,
        reserve: Reserve,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            budget,
            reserve,
            metrics,
            learning: tokio::sync::Mutex::new(None),
        }
    }

    /// Reserves `cost`, or refuses with a 429 `credit-reserve` error.
    pub fn reserve(&self, cost: Cost) -> Result<Reservation<'_>, Error> {
        match self.budget.reserve(cost, &self.reserve) {
            Ok(()) => Ok(Reservation {
                guard: self,
                cost,
                settled: false,
            }),
            Err(refusal) => {
                self.metrics.credit_refusal(refusal.pool.label());
                tracing::warn!(limit = refusal.pool.label(), available = refusal.available, needed = refusal.needed, reserve = refusal.reserve, "a call would dip into Imgur's credit reserve; answered 429 without calling Imgur");
                Err(Error::local(ErrorKind::CreditReserve {
                    message: format!(
                        "this call needs {needed} of Imgur's {limit} credits, {available} are left, and pixgate keeps {reserve} in reserve (PIXGATE_CREDIT_RESERVE={setting}); Imgur resets them in {retry} s. Imgur blocks an app that runs out of its daily credits five times in a month.",
                        needed = refusal.needed,
                        limit = match refusal.pool {
                            Pool::User => "user",
                            Pool::Client => "app (client)",
                            Pool::Post => "POST",
                        },
                        available = refusal.available.max(0),
                        reserve = refusal.reserve,
                        setting = self.reserve,
                        retry = refusal.retry_after,
                    ),
                    retry_after: refusal.retry_after,
                }))
            }
        }
    }

    /// Fills the budget from `fetch` (`GET /3/credits`) when nothing is
    /// known yet; one fetch at a time, none for a minute after one failed.
    pub async fn learn_if_unknown<F, Fut>(&self, fetch: F)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Option<Observation>>,
    {
        if !self.budget.knows_nothing() {
            return;
        }
        let mut last = self.learning.lock().await;
        if !self.budget.knows_nothing() || last.is_some_and(|at| at.elapsed() < LEARN_RETRY) {
            return;
        }
        *last = Some(Instant::now());
        if let Some(observation) = fetch().await {
            self.observe(&observation);
        }
    }

    /// Takes in an answer that was not reserved (`GET /3/credits`).
    pub fn observe(&self, observation: &Observation) {
        self.budget.observe(observation);
        self.publish();
    }

    /// The budget now.
    pub fn view(&self) -> BudgetView {
        let now = unix_now();
        let pools = self.budget.snapshot();
        let limits = Pool::ALL
            .iter()
            .map(|pool| {
                let state = pools[pool.index()];
                let view = LimitView {
                    limit: state.limit,
                    remaining: state.remaining,
                    in_flight: state.in_flight,
                    reserve: if self.reserve.is_off() {
                        Some(0)
                    } else {
                        self.reserve.credits(state.limit)
                    },
                    reset_at: state.reset_at,
                    reset_in: state.reset_in(now),
                };
                (pool.label().to_owned(), view)
            })
            .collect();
        BudgetView {
            reserve: if self.reserve.is_off() {
                "0".into()
            } else {
                self.reserve.to_string()
            },
            guard: !self.reserve.is_off(),
            limits,
        }
    }

    fn publish(&self) {
        for (name, limit) in self.view().limits {
            self.metrics.credit_budget(
                &name,
                limit.limit,
                limit.remaining,
                limit.reset_in,
                limit.reserve,
            );
        }
    }
}

/// Credits reserved for one call; settle it with the answer. Dropped
/// unsettled (the call was cancelled), it counts as spent.
pub struct Reservation<'a> {
    guard: &'a CreditGuard,
    cost: Cost,
    settled: bool,
}

impl Reservation<'_> {
    pub fn settle(mut self, outcome: Outcome<'_>) {
        self.settled = true;
        self.guard.budget.settle(self.cost, outcome);
        self.guard.publish();
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.guard.budget.settle(self.cost, Outcome::Spent);
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> RateLimits {
        RateLimits(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn budget_with(user_remaining: &str) -> LocalBudget {
        let budget = LocalBudget::default();
        let seen = Observation::from_headers(&headers(&[
            ("x-ratelimit-userlimit", "2000"),
            ("x-ratelimit-userremaining", user_remaining),
            ("x-ratelimit-userreset", "3600"),
            ("x-ratelimit-clientlimit", "12500"),
            ("x-ratelimit-clientremaining", "12000"),
        ]))
        .expect("headers");
        budget.observe(&seen);
        budget
    }

    #[test]
    fn the_reserve_setting_takes_a_percentage_or_a_number() {
        assert_eq!("5%".parse(), Ok(Reserve::Percent(5.0)));
        assert_eq!(" 2.5 % ".parse(), Ok(Reserve::Percent(2.5)));
        assert_eq!("120".parse(), Ok(Reserve::Credits(120)));
        assert!("0".parse::<Reserve>().expect("valid").is_off());
        assert!("0%".parse::<Reserve>().expect("valid").is_off());
        for bad in ["", "five", "-1", "101%", "5 credits", "NaN%"] {
            assert!(bad.parse::<Reserve>().is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Reserve::Percent(5.0).credits(Some(2000)), Some(100));
        assert_eq!(Reserve::Percent(5.0).credits(Some(1250)), Some(63));
    }

    #[test]
    fn a_call_that_would_dip_into_the_reserve_is_refused_with_the_reset() {
        let budget = budget_with("110");
        let reserve = Reserve::default();
        // 110 - 10 = 100 = the 5 % reserve: still allowed.
        budget
            .reserve(Cost::of(true, true), &reserve)
            .expect("allowed");
        // In flight counts: 110 - 10 - 1 < 100.
        let refusal = budget
            .reserve(Cost::of(false, false), &reserve)
            .expect_err("refused");
        assert_eq!(refusal.pool, Pool::User);
        assert!((3590..=3600).contains(&refusal.retry_after), "{refusal:?}");
        // Reserve 0: the guard is off.
        budget
            .reserve(Cost::of(true, true), &"0".parse().expect("valid"))
            .expect("passes");
    }

    #[test]
    fn answers_out_of_order_keep_the_lowest_count_in_a_window() {
        let budget = budget_with("500");
        let cost = Cost::of(false, false);
        budget.reserve(cost, &Reserve::default()).expect("allowed");
        budget.reserve(cost, &Reserve::default()).expect("allowed");
        let later = Observation::from_headers(&headers(&[("x-ratelimit-userremaining", "498")]));
        let earlier = Observation::from_headers(&headers(&[("x-ratelimit-userremaining", "499")]));
        budget.settle(cost, Outcome::Seen(&later.expect("headers")));
        budget.settle(cost, Outcome::Seen(&earlier.expect("headers")));
        let user = budget.snapshot()[0];
        assert_eq!((user.remaining, user.in_flight), (Some(498), 0));
        // Without headers a call counts as spent; not sent, it does not.
        budget.reserve(cost, &Reserve::default()).expect("allowed");
        budget.settle(cost, Outcome::Spent);
        budget.reserve(cost, &Reserve::default()).expect("allowed");
        budget.settle(cost, Outcome::NotSent);
        assert_eq!(budget.snapshot()[0].remaining, Some(497));
    }

    #[test]
    fn credits_fill_an_empty_budget() {
        let budget = LocalBudget::default();
        assert!(budget.knows_nothing());
        let observation = Observation::from_credits(
            br#"{"UserLimit":2000,"UserRemaining":1500,"UserReset":1,"ClientLimit":12500,"ClientRemaining":"90"}"#,
        )
        .expect("credits");
        budget.observe(&observation);
        let [_, client, _] = budget.snapshot();
        assert_eq!((client.limit, client.remaining), (Some(12500), Some(90)));
        assert!(!budget.knows_nothing());
    }
}
