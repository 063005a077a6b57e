//! The favorites cache's shared tier in Redis: what each key holds and the
//! few commands that read and write it. The cache (`src/cache.rs`) decides
//! when to call them; this module is the only code that knows their layout.
//!
//! # Keys
//! - `{pixgate}:favorites:generation:<provider>:<account>`: a counter that
//!   every change of that account's favorites on that provider bumps
//!   (`INCR`); missing means 0. It never expires (a few bytes per account).
//! - `{pixgate}:favorites:page:<provider>:<generation>:<params>:<account>`:
//!   a hash with the page's `body`, `etag`, and its `fresh_until` and
//!   `stale_until` deadlines (milliseconds since the Unix epoch). The key
//!   expires at `stale_until`, so Redis drops what no replica may serve any
//!   more. The account comes last, so no account name can make two keys meet.
//!
//! Pages of an older generation are never read (the key names the
//! generation), and a page is only written while its generation is still
//! the current one (a Lua compare-and-set), so a fill that started before
//! a change cannot store its old page under the new generation.
//!
//! The deadlines are wall-clock times written by one replica and read by
//! another: replicas' clocks must agree to well under the fresh TTL (NTP).

use super::{Channel, Fleet, FleetError, Lua};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Stores a page only if its generation is still current. KEYS[1] the
/// generation, KEYS[2] the page; ARGV generation, etag, fresh_until,
/// stale_until, body. Returns 1 when stored, 0 when the generation moved.
const STORE_IF_CURRENT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'etag', ARGV[2], 'fresh_until', ARGV[3], 'stale_until', ARGV[4], 'body', ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
return 1
";

fn store_script() -> &'static redis::Script {
    static SCRIPT: OnceLock<redis::Script> = OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(STORE_IF_CURRENT))
}

/// A page as the shared tier holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedPage {
    pub body: Vec<u8>,
    pub etag: String,
    pub fresh_until: SystemTime,
    pub stale_until: SystemTime,
}

/// The shared tier; cheap to clone.
#[derive(Clone, Debug)]
pub struct SharedFavorites {
    fleet: Fleet,
}

impl SharedFavorites {
    pub fn new(fleet: Fleet) -> Self {
        Self { fleet }
    }

    /// The connection, for the cache's listener.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// The current generation of `account`'s favorites on `provider`.
    pub async fn generation(&self, provider: &str, account: &str) -> Result<u64, FleetError> {
        let value: Option<u64> = self
            .fleet
            .query(
                "favorites_generation",
                redis::cmd("GET").arg(self.generation_key(provider, account)),
            )
            .await?;
        Ok(value.unwrap_or(0))
    }

    /// Bumps the generation (every page of the account on that provider is
    /// then unreachable) and tells the other replicas; returns the new one.
    /// The notification is only a hint (they validate the generation on
    /// every read anyway), so a failed publish is not an error.
    pub async fn bump(&self, provider: &str, account: &str) -> Result<u64, FleetError> {
        let generation: u64 = self
            .fleet
            .query(
                "favorites_bump",
                redis::cmd("INCR").arg(self.generation_key(provider, account)),
            )
            .await?;
        let _ = self.fleet.publish(Channel::Favorites, provider).await;
        Ok(generation)
    }

    /// The page stored under `generation`, if any (expired or not).
    pub async fn read(
        &self,
        provider: &str,
        account: &str,
        generation: u64,
        params: &str,
    ) -> Result<Option<SharedPage>, FleetError> {
        type Fields = (Option<String>, Option<u64>, Option<u64>, Option<Vec<u8>>);
        let (etag, fresh, stale, body): Fields = self
            .fleet
            .query(
                "favorites_read",
                redis::cmd("HMGET")
                    .arg(self.page_key(provider, account, generation, params))
                    .arg("etag")
                    .arg("fresh_until")
                    .arg("stale_until")
                    .arg("body"),
            )
            .await?;
        Ok(match (etag, fresh, stale, body) {
            (Some(etag), Some(fresh), Some(stale), Some(body)) => Some(SharedPage {
                body,
                etag,
                fresh_until: from_millis(fresh),
                stale_until: from_millis(stale),
            }),
            _ => None,
        })
    }

    /// Stores `page` under `generation` if that is still the current one;
    /// `Ok(false)` when a change bumped it meanwhile (nothing is stored).
    pub async fn store(
        &self,
        provider: &str,
        account: &str,
        generation: u64,
        params: &str,
        page: &SharedPage,
    ) -> Result<bool, FleetError> {
        let invocation = Lua::new(store_script())
            .key(self.generation_key(provider, account))
            .key(self.page_key(provider, account, generation, params))
            .arg(generation)
            .arg(&page.etag)
            .arg(millis(page.fresh_until))
            .arg(millis(page.stale_until))
            .arg(page.body.as_slice());
        let stored: i64 = self.fleet.invoke("favorites_store", invocation).await?;
        Ok(stored == 1)
    }

    fn generation_key(&self, provider: &str, account: &str) -> String {
        self.fleet
            .key(&format!("favorites:generation:{provider}:{account}"))
    }

    fn page_key(&self, provider: &str, account: &str, generation: u64, params: &str) -> String {
        self.fleet.key(&format!(
            "favorites:page:{provider}:{generation}:{params}:{account}"
        ))
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_trip_to_the_millisecond() {
        let now = SystemTime::now();
        let back = from_millis(millis(now));
        assert!(now.duration_since(back).expect("not later") < Duration::from_millis(1));
    }
}
