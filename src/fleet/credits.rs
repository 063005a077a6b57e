//! Imgur's credit budget counted fleet-wide: [`SharedBudget`], the
//! [`CreditBudget`] every replica's credit guard uses when
//! `PIXGATE_REDIS_URL` is set.
//!
//! The three pools live in one Redis key, `{pixgate}:credits`, as JSON with
//! a version. Every change reads it, applies the same rule the local budget
//! applies (`imgur::credits::reserve_in` and its siblings: one rule, two
//! places to keep the numbers), and writes it back by a Lua compare-and-set
//! on the version, retrying when another replica wrote in between; so a
//! reservation on one replica is seen by the next check on any other, and
//! no lock is needed. A reservation waits for Redis (it needs the answer);
//! settling and learning from an answer are written in the background,
//! so the call that made them does not wait, and other replicas see them
//! a round trip later. Credits a crashed replica had in flight would stay
//! counted: the in-flight counts expire [`IN_FLIGHT_TTL`] after their last
//! change.
//!
//! When Redis cannot be reached the guard falls back to this process's own
//! [`LocalBudget`], which sees every answer too: calls and uploads keep
//! going (never refused only because Redis is down), counted locally until
//! Redis is back.

use super::{Fleet, FleetError, Lua};
use crate::imgur::credits::{
    knows_nothing, observe_in, reserve_in, roll_all, settle_in, Cost, LocalBudget, Observation,
    Outcome, PoolState, Refusal,
};
use crate::imgur::{CreditBudget, Reserve};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// In-flight credits older than this (a replica that died mid-call) no
/// longer count.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(600);
/// Compare-and-set attempts before falling back to the local budget.
const ATTEMPTS: usize = 16;

/// Writes ARGV[2] if the version is still ARGV[1]. KEYS: the budget.
const WRITE: &str = r#"
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', version + 1, 'pools', ARGV[2])
return 1
"#;

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    pools: [PoolState; 3],
    /// Unix seconds of the last change of an in-flight count.
    in_flight_at: u64,
}

/// The budget in Redis; see the module docs.
pub struct SharedBudget {
    fleet: Fleet,
    local: LocalBudget,
    write: redis::Script,
}

impl SharedBudget {
    pub fn new(fleet: Fleet) -> Self {
        Self {
            fleet,
            local: LocalBudget::default(),
            write: redis::Script::new(WRITE),
        }
    }

    fn key(&self) -> String {
        self.fleet.key("credits")
    }

    async fn read(fleet: &Fleet, key: &str) -> Result<(u64, Stored), FleetError> {
        let (version, pools): (Option<u64>, Option<String>) = fleet
            .query(
                "credits_read",
                redis::cmd("HMGET").arg(key).arg("version").arg("pools"),
            )
            .await?;
        let mut stored: Stored = pools
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        if unix_now().saturating_sub(stored.in_flight_at) > IN_FLIGHT_TTL.as_secs() {
            for pool in stored.pools.iter_mut() {
                pool.in_flight = 0;
            }
        }
        roll_all(&mut stored.pools);
        Ok((version.unwrap_or(0), stored))
    }

    /// Applies `change` to the shared pools and waits for it (a
    /// reservation needs its answer).
    fn update<T: Send + 'static>(
        &self,
        change: impl Fn(&mut [PoolState; 3]) -> T + Send + 'static,
    ) -> Result<T, FleetError> {
        self.fleet.block_on(self.changing(change))
    }

    /// Applies `change` in the background: settling and learning need no
    /// answer, so the call that made them does not wait for Redis.
    fn update_soon(&self, change: impl Fn(&mut [PoolState; 3]) + Send + 'static) {
        drop(self.fleet.spawn(self.changing(change)));
    }

    /// `change` applied to the shared pools by compare-and-set, retried.
    fn changing<T: Send + 'static>(
        &self,
        change: impl Fn(&mut [PoolState; 3]) -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, FleetError>> + Send + 'static {
        let (fleet, key, write) = (self.fleet.clone(), self.key(), self.write.clone());
        async move {
            for _ in 0..ATTEMPTS {
                let (version, mut stored) = Self::read(&fleet, &key).await?;
                let before = stored.pools.map(|p| p.in_flight);
                let outcome = change(&mut stored.pools);
                if stored.pools.map(|p| p.in_flight) != before {
                    stored.in_flight_at = unix_now();
                }
                let json = serde_json::to_string(&stored).unwrap_or_default();
                let written: i64 = fleet
                    .invoke(
                        "credits_write",
                        Lua::new(&write).key(&key).arg(version).arg(json),
                    )
                    .await?;
                if written == 1 {
                    return Ok(outcome);
                }
            }
            Err(fleet.error("the shared credit budget changed too often to update"))
        }
    }
}

impl CreditBudget for SharedBudget {
    fn knows_nothing(&self) -> bool {
        let (fleet, key) = (self.fleet.clone(), self.key());
        match self
            .fleet
            .block_on(async move { Self::read(&fleet, &key).await })
        {
            Ok((_, stored)) => knows_nothing(&stored.pools),
            Err(_) => self.local.knows_nothing(),
        }
    }

    fn reserve(&self, cost: Cost, reserve: &Reserve) -> Result<(), Refusal> {
        let wanted = reserve.clone();
        match self.update(move |pools| reserve_in(pools, cost, &wanted)) {
            Ok(outcome) => outcome,
            Err(_) => self.local.reserve(cost, reserve),
        }
    }

    fn settle(&self, cost: Cost, outcome: Outcome<'_>) {
        self.local.settle(cost, outcome);
        let owned = OwnedOutcome::of(outcome);
        self.update_soon(move |pools| settle_in(pools, cost, owned.as_outcome()));
    }

    fn observe(&self, observation: &Observation) {
        self.local.observe(observation);
        let observation = *observation;
        self.update_soon(move |pools| observe_in(pools, &observation));
    }

    fn snapshot(&self) -> [PoolState; 3] {
        let (fleet, key) = (self.fleet.clone(), self.key());
        match self
            .fleet
            .block_on(async move { Self::read(&fleet, &key).await })
        {
            Ok((_, stored)) => stored.pools,
            Err(_) => self.local.snapshot(),
        }
    }
}

/// An [`Outcome`] that can travel to Redis's runtime.
#[derive(Clone)]
enum OwnedOutcome {
    Seen(Observation),
    Spent,
    NotSent,
}

impl OwnedOutcome {
    fn of(outcome: Outcome<'_>) -> Self {
        match outcome {
            Outcome::Seen(observation) => Self::Seen(*observation),
            Outcome::Spent => Self::Spent,
            Outcome::NotSent => Self::NotSent,
        }
    }

    fn as_outcome(&self) -> Outcome<'_> {
        match self {
            Self::Seen(observation) => Outcome::Seen(observation),
            Self::Spent => Outcome::Spent,
            Self::NotSent => Outcome::NotSent,
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
