//! The token record in Redis, shared by every replica: [`RedisStore`], the
//! [`TokenStore`] the token owner uses when `PIXGATE_REDIS_URL` is set.
//!
//! Keys (one hash tag, so one Lua script may touch them all):
//! - `{pixgate}:token`: a hash, `revision` and `tokens` (the token file's
//!   JSON). Written only by [`SAVE`], a compare-and-set on the revision. A
//!   logout leaves a tombstone (empty `tokens`, revision + 1) rather than
//!   deleting the key, so a record that is *gone* can only mean Redis lost
//!   its data, and then the tokens in memory are written back instead of
//!   being dropped as if logged out.
//! - `{pixgate}:token:candidates`: a list, newest first, of records whose
//!   save lost the compare-and-set (a leader that was paused past its lease
//!   and got Imgur's answer late). Nothing Imgur answered is dropped: the
//!   owner tries these before declaring a rejected refresh token final.
//! - `{pixgate}:token:lock`: the refresh lock, `SET NX PX lease` with a
//!   random value per holder, renewed every third of the lease by a task
//!   while it is held, released by compare-and-delete. A holder that lost it
//!   (paused past the lease) finds out in [`TokenStore::confirm`] before it
//!   sends anything to Imgur.
//!
//! Ownership: within a process the token owner (`imgur::tokens`) is the only
//! caller, one command at a time; across processes the lock serializes every
//! refresh, login and logout, and the compare-and-set refuses any write whose
//! base is stale even if two processes think they hold the lock (a lease can
//! expire under a paused holder). So no other lock is needed. Crash window:
//! a process killed between Imgur's token answer and the `EVALSHA` that
//! stores it (one Redis round trip, well under a millisecond on a LAN, plus
//! Redis's `appendfsync always` fsync) loses that answer; Imgur's grace for
//! the previous refresh token covers it, as with the token file.

use super::{Channel, Event, Fleet, FleetError, Lua};
use crate::imgur::token_store::{decode, encode};
use crate::imgur::token_store::{StoreLock, StoreWatch};
use crate::imgur::{StoreError, StoredTokens, TokenStore};
use crate::secret::Secret;
use rand::RngCore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many records that lost the race are kept, and for how long.
const MAX_CANDIDATES: i64 = 20;
const CANDIDATE_TTL_SECS: u64 = 7 * 24 * 3600;
/// Between two attempts at the lock when no release message came.
const LOCK_POLL: Duration = Duration::from_millis(250);
/// Longest wait for the lock; then the operation answers `store-unavailable`
/// (it never goes ahead without the lock).
const LOCK_WAIT: Duration = Duration::from_secs(60);
/// How often the watch compares the stored revision with the last one seen,
/// in case a notification was lost.
const WATCH_POLL: Duration = Duration::from_secs(1);
/// A lease with less than this left is treated as lost (the request would
/// still be on its way when it ends).
const LEASE_MARGIN: Duration = Duration::from_millis(200);

/// Writes `tokens` as `revision` if the stored revision is the expected one
/// (or there is no record at all); otherwise keeps them as a candidate.
/// KEYS: record, candidates. ARGV: expected revision, new revision, JSON,
/// max candidates, candidate TTL. Returns 1 when written, 0 when kept.
const SAVE: &str = r#"
local current = redis.call('HGET', KEYS[1], 'revision')
if current == false or tonumber(current) == tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'revision', ARGV[2], 'tokens', ARGV[3])
  return 1
end
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 0
"#;

/// A logout: a tombstone one revision on. KEYS: record.
const REMOVE: &str = r#"
local current = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
redis.call('HSET', KEYS[1], 'revision', current + 1, 'tokens', '')
return current + 1
"#;

/// Extends the lease if this holder still has it. KEYS: lock. ARGV: value, lease ms.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Releases the lock if this holder still has it. KEYS: lock. ARGV: value.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// The Lua scripts, loaded once (EVALSHA, loaded again when Redis forgot them).
struct Scripts {
    save: redis::Script,
    remove: redis::Script,
    renew: redis::Script,
    release: redis::Script,
}

/// The token record in Redis; see the module docs.
#[derive(Clone)]
pub struct RedisStore {
    fleet: Fleet,
    lease: Duration,
    scripts: Arc<Scripts>,
    /// Whether this process has seen a record: a record gone afterwards
    /// (without the tombstone of a logout) is lost data, not a logout.
    seen: Arc<AtomicBool>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("redis", &self.fleet.location())
            .finish()
    }
}

/// The lock as held: renewed by `renewal` until dropped, then released.
struct Lease {
    store: RedisStore,
    value: String,
    /// When the lease ends unless renewed (moved on by each renewal).
    until: Arc<Mutex<Instant>>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        let store = self.store.clone();
        let value = std::mem::take(&mut self.value);
        // Released in the background: a drop must not block, and a release
        // that fails only means the lease runs out by itself.
        store.fleet.clone().spawn(async move {
            let key = store.fleet.key("token:lock");
            let released = store
                .fleet
                .invoke::<i64>(
                    "token_lock_release",
                    Lua::new(&store.scripts.release).key(&key).arg(&value),
                )
                .await;
            if released.is_ok() {
                let _ = store.fleet.publish(Channel::Tokens, "released").await;
            }
        });
    }
}

/// Stops the watch task when dropped.
struct WatchTask(tokio::task::JoinHandle<()>);

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisStore {
    /// The record in `fleet`'s Redis, with refresh-lock leases of `lease`.
    pub fn new(fleet: Fleet, lease: Duration) -> Self {
        Self {
            fleet,
            lease: lease.max(Duration::from_millis(600)),
            scripts: Arc::new(Scripts {
                save: redis::Script::new(SAVE),
                remove: redis::Script::new(REMOVE),
                renew: redis::Script::new(RENEW),
                release: redis::Script::new(RELEASE),
            }),
            seen: Arc::new(AtomicBool::new(false)),
        }
    }

    fn unavailable(&self, error: FleetError) -> StoreError {
        StoreError::Unavailable {
            location: self.location(),
            reason: error.reason,
        }
    }

    fn record_key(&self) -> String {
        self.fleet.key("token")
    }

    fn candidates_key(&self) -> String {
        self.fleet.key("token:candidates")
    }

    fn lock_key(&self) -> String {
        self.fleet.key("token:lock")
    }

    /// The candidates' JSON, newest first.
    async fn listed_candidates(&self) -> Result<Vec<String>, FleetError> {
        self.fleet
            .query(
                "token_candidates",
                redis::cmd("LRANGE")
                    .arg(self.candidates_key())
                    .arg(0)
                    .arg(-1),
            )
            .await
    }

    /// The stored revision and JSON (`None`: no record at all).
    async fn read(&self) -> Result<Option<(u64, String)>, FleetError> {
        let (revision, tokens): (Option<u64>, Option<String>) = self
            .fleet
            .query(
                "token_load",
                redis::cmd("HMGET")
                    .arg(self.record_key())
                    .arg("revision")
                    .arg("tokens"),
            )
            .await?;
        Ok(revision.map(|r| (r, tokens.unwrap_or_default())))
    }

    /// One attempt at the lock: `Some(value)` when taken.
    async fn try_lock(&self) -> Result<Option<String>, FleetError> {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let taken: Option<String> = self
            .fleet
            .query(
                "token_lock",
                redis::cmd("SET")
                    .arg(self.lock_key())
                    .arg(&value)
                    .arg("NX")
                    .arg("PX")
                    .arg(self.lease.as_millis() as u64),
            )
            .await?;
        Ok(taken.map(|_| value))
    }

    /// Waits for the lock: a release message or, if none comes, the next
    /// poll; never longer than [`LOCK_WAIT`].
    async fn acquire(&self) -> Result<Lease, StoreError> {
        let started = Instant::now();
        let mut events = self.fleet.events();
        loop {
            let asked = Instant::now();
            match self.try_lock().await {
                Ok(Some(value)) => {
                    self.fleet
                        .metrics()
                        .token_lock_wait("acquired", started.elapsed());
                    return Ok(self.hold(value, asked));
                }
                Ok(None) => {}
                Err(error) => {
                    self.fleet
                        .metrics()
                        .token_lock_wait("failed", started.elapsed());
                    return Err(self.unavailable(error));
                }
            }
            if started.elapsed() > LOCK_WAIT {
                self.fleet
                    .metrics()
                    .token_lock_wait("failed", started.elapsed());
                return Err(StoreError::Unavailable {
                    location: self.location(),
                    reason: format!(
                        "another replica held the token lock for over {} s",
                        LOCK_WAIT.as_secs()
                    ),
                });
            }
            let released = async {
                loop {
                    match events.recv().await {
                        Ok(Event::Message {
                            channel: Channel::Tokens,
                            payload,
                        }) if payload == "released" => return,
                        Ok(Event::Resubscribed) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            let _ = tokio::time::timeout(LOCK_POLL, released).await;
        }
    }

    /// Starts renewing a lock taken at `asked` (the lease runs from when
    /// the SET was sent, the earliest it can have started).
    fn hold(&self, value: String, asked: Instant) -> Lease {
        let until = Arc::new(Mutex::new(asked + self.lease));
        let renewal = {
            let store = self.clone();
            let value = value.clone();
            let until = Arc::clone(&until);
            self.fleet.spawn(async move {
                loop {
                    tokio::time::sleep(store.lease / 3).await;
                    let asked = Instant::now();
                    match store.renew(&value).await {
                        Ok(true) => {
                            store.fleet.metrics().token_lease_renewal("renewed");
                            *until.lock().unwrap_or_else(|e| e.into_inner()) = asked + store.lease;
                        }
                        Ok(false) => {
                            store.fleet.metrics().token_lease_renewal("lost");
                            tracing::warn!("lost the shared token lock's lease");
                            return;
                        }
                        Err(_) => store.fleet.metrics().token_lease_renewal("error"),
                    }
                }
            })
        };
        Lease {
            store: self.clone(),
            value,
            until,
            renewal,
        }
    }

    async fn renew(&self, value: &str) -> Result<bool, FleetError> {
        let renewed: i64 = self
            .fleet
            .invoke(
                "token_lock_renew",
                Lua::new(&self.scripts.renew)
                    .key(self.lock_key())
                    .arg(value)
                    .arg(self.lease.as_millis() as u64),
            )
            .await?;
        Ok(renewed == 1)
    }

    fn lease<'a>(&self, lock: &'a StoreLock) -> Result<&'a Lease, StoreError> {
        lock.guard::<Lease>()
            .ok_or_else(|| StoreError::Unavailable {
                location: self.location(),
                reason: "a lock of another store".into(),
            })
    }

    fn decode_record(&self, json: &str) -> Result<StoredTokens, StoreError> {
        decode(json.as_bytes()).map_err(|_| StoreError::CorruptRecord {
            location: self.location(),
        })
    }
}

impl TokenStore for RedisStore {
    fn location(&self) -> String {
        format!(
            "Redis at {} (key {})",
            self.fleet.location(),
            self.record_key()
        )
    }

    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        let store = self.clone();
        let read = self.fleet.block_on(async move { store.read().await });
        match read.map_err(|e| self.unavailable(e))? {
            None if self.seen.load(Ordering::Relaxed) => Err(StoreError::Missing {
                location: self.location(),
            }),
            None => Ok(None),
            Some((revision, json)) => {
                self.seen.store(true, Ordering::Relaxed);
                if json.is_empty() {
                    return Ok(None); // A logout's tombstone.
                }
                let mut tokens = self.decode_record(&json)?;
                tokens.revision = revision;
                Ok(Some(tokens))
            }
        }
    }

    fn lock(&self) -> Result<StoreLock, StoreError> {
        let store = self.clone();
        self.fleet
            .block_on(async move { store.acquire().await })
            .map(StoreLock::new)
    }

    fn save(&self, lock: &StoreLock, tokens: &StoredTokens) -> Result<u64, StoreError> {
        self.lease(lock)?;
        let revision = tokens.revision.wrapping_add(1);
        let json = encode(tokens, revision).map_err(|_| StoreError::CorruptRecord {
            location: self.location(),
        })?;
        let store = self.clone();
        let expected = tokens.revision;
        let written = self.fleet.block_on(async move {
            let written: i64 = store
                .fleet
                .invoke(
                    "token_save",
                    Lua::new(&store.scripts.save)
                        .key(store.record_key())
                        .key(store.candidates_key())
                        .arg(expected)
                        .arg(revision)
                        .arg(json)
                        .arg(MAX_CANDIDATES)
                        .arg(CANDIDATE_TTL_SECS),
                )
                .await?;
            if written == 1 {
                let _ = store.fleet.publish(Channel::Tokens, "changed").await;
            }
            Ok::<_, FleetError>(written == 1)
        });
        match written.map_err(|e| self.unavailable(e))? {
            true => {
                self.seen.store(true, Ordering::Relaxed);
                Ok(revision)
            }
            false => {
                self.fleet.metrics().token_cas_loss();
                Err(StoreError::Conflict {
                    location: self.location(),
                })
            }
        }
    }

    fn remove(&self, lock: &StoreLock) -> Result<(), StoreError> {
        self.lease(lock)?;
        let store = self.clone();
        self.fleet
            .block_on(async move {
                store
                    .fleet
                    .invoke::<i64>(
                        "token_remove",
                        Lua::new(&store.scripts.remove).key(store.record_key()),
                    )
                    .await?;
                let _ = store.fleet.publish(Channel::Tokens, "changed").await;
                Ok::<_, FleetError>(())
            })
            .map_err(|e| self.unavailable(e))
    }

    fn ensure_writable(&self) -> Result<(), StoreError> {
        let fleet = self.fleet.clone();
        self.fleet
            .block_on(async move { fleet.check().await })
            .map_err(|e| self.unavailable(e))
    }

    /// Notifications on [`Channel::Tokens`], a resubscription (messages may
    /// be lost), and a comparison of the stored revision every
    /// [`WATCH_POLL`] for anything pub/sub did not deliver.
    fn watch(&self, changed: Box<dyn Fn() + Send + Sync>) -> Option<StoreWatch> {
        let store = self.clone();
        let mut events = self.fleet.events();
        let task = self.fleet.spawn(async move {
            let mut last = None;
            let mut poll = tokio::time::interval(WATCH_POLL);
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(Event::Message { channel: Channel::Tokens, payload }) if payload == "changed" => changed(),
                        Ok(Event::Resubscribed) | Err(_) => changed(),
                        Ok(_) => {}
                    },
                    _ = poll.tick() => {
                        let revision = store.read().await.ok().map(|r| r.map(|(revision, _)| revision));
                        if let Some(revision) = revision {
                            if last.is_some() && last != Some(revision) {
                                changed();
                            }
                            last = Some(revision);
                        }
                    }
                }
            }
        });
        Some(StoreWatch::new(WatchTask(task)))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn confirm(&self, lock: &StoreLock) -> Result<bool, StoreError> {
        let lease = self.lease(lock)?;
        let until = *lease.until.lock().unwrap_or_else(|e| e.into_inner());
        if Instant::now() + LEASE_MARGIN >= until {
            self.fleet.metrics().token_lease_renewal("lost");
            return Ok(false);
        }
        // Renewed now, so the request about to go out has a whole lease.
        let store = self.clone();
        let value = lease.value.clone();
        let asked = Instant::now();
        let renewed = self
            .fleet
            .block_on(async move { store.renew(&value).await })
            .map_err(|e| self.unavailable(e))?;
        if renewed {
            *lease.until.lock().unwrap_or_else(|e| e.into_inner()) = asked + self.lease;
        } else {
            self.fleet.metrics().token_lease_renewal("lost");
        }
        Ok(renewed)
    }

    fn candidates(&self) -> Result<Vec<StoredTokens>, StoreError> {
        let store = self.clone();
        let listed = self
            .fleet
            .block_on(async move { store.listed_candidates().await })
            .map_err(|e| self.unavailable(e))?;
        Ok(listed
            .iter()
            .filter_map(|json| decode(json.as_bytes()).ok())
            .collect())
    }

    fn forget_candidate(&self, lock: &StoreLock, refresh_token: &Secret) -> Result<(), StoreError> {
        self.lease(lock)?;
        let store = self.clone();
        let refresh_token = refresh_token.clone();
        self.fleet
            .block_on(async move {
                let listed = store.listed_candidates().await?;
                for json in listed {
                    let matches = decode(json.as_bytes())
                        .is_ok_and(|c| c.refresh_token.as_ref() == Some(&refresh_token));
                    if matches {
                        store
                            .fleet
                            .query::<i64>(
                                "token_candidates",
                                redis::cmd("LREM")
                                    .arg(store.candidates_key())
                                    .arg(0)
                                    .arg(json),
                            )
                            .await?;
                    }
                }
                Ok::<_, FleetError>(())
            })
            .map_err(|e| self.unavailable(e))
    }
}
