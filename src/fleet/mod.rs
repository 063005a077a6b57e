//! State that several replicas share through Redis (`PIXGATE_REDIS_URL`):
//! the token record and its refresh lock, pending logins, the upload
//! ledger, the credit budget and the favorites cache's shared tier. Without
//! `PIXGATE_REDIS_URL` none of this exists and nothing needs Redis.
//!
//! [`Fleet`] is the one connection to Redis every part goes through: a
//! multiplexed [`ConnectionManager`] (it reconnects by itself; a command that
//! fails is not retried, the caller decides), one subscriber task for the
//! notification channels, and the reachability that `/readyz` reports.
//! Every round trip is counted in the metrics by operation.
//!
//! Keys all start with `{pixgate}:`: the hash tag keeps them in one cluster
//! slot, so a Lua script may touch several of them. Compare-and-set is
//! always a Lua script, never WATCH/MULTI (which mixes callers on a shared
//! multiplexed connection).
//!
//! Pub/sub is a hint, never the only path: a message can be lost while the
//! subscription reconnects, so every listener also gets
//! [`Event::Resubscribed`] after a reconnect and must then assume it missed
//! something (re-read the record, clear its local tier).

pub mod favorites;

use crate::metrics::Metrics;
use crate::secret::Secret;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Every key's prefix; the braces are Redis Cluster's hash tag.
const KEY_PREFIX: &str = "{pixgate}:";
/// A Redis call that takes longer fails: replicas must not hang on a dead server.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Waits between the subscriber's reconnection attempts.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(2);
/// How many notifications a slow listener may fall behind before it sees
/// [`Event::Resubscribed`] instead (broadcast lag).
const EVENT_BACKLOG: usize = 1024;

/// Redis could not do what was asked. The message names the server without
/// its password and never quotes a stored value.
#[derive(Clone, Debug, thiserror::Error)]
#[error("Redis at {location} is unavailable: {reason}")]
pub struct FleetError {
    pub location: String,
    pub reason: String,
}

/// A notification channel, one per kind of shared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The token record changed, or the refresh lock was released.
    Tokens,
    /// A favorites generation changed; the payload names the provider.
    Favorites,
}

impl Channel {
    const ALL: [Channel; 2] = [Channel::Tokens, Channel::Favorites];

    fn name(self) -> String {
        let name = match self {
            Channel::Tokens => "events:tokens",
            Channel::Favorites => "events:favorites",
        };
        format!("{KEY_PREFIX}{name}")
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What the subscriber task hands to listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Message {
        channel: Channel,
        payload: String,
    },
    /// The subscription was down (or this listener fell behind) and is back:
    /// messages may have been missed.
    Resubscribed,
}

/// The shared connection to Redis; cheap to clone. See the module docs.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    connection: ConnectionManager,
    location: String,
    metrics: Arc<Metrics>,
    reachable: AtomicBool,
    events: broadcast::Sender<Event>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("location", &self.inner.location)
            .finish()
    }
}

impl Fleet {
    /// Opens the connection lazily (a Redis that is down at startup only
    /// makes `/readyz` 503 until it is up) and starts the subscriber. Fails
    /// only on a URL that is not a Redis URL. Must run inside the runtime.
    pub fn connect(url: &Secret, metrics: Arc<Metrics>) -> Result<Self, FleetError> {
        let location = redacted(url.expose());
        let invalid = |e: redis::RedisError| FleetError {
            location: location.clone(),
            reason: format!(
                "PIXGATE_REDIS_URL is not a usable redis:// or rediss:// URL ({})",
                e.category()
            ),
        };
        let client = redis::Client::open(url.expose()).map_err(invalid)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(invalid)?;
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let fleet = Self {
            inner: Arc::new(Inner {
                client,
                connection,
                location,
                metrics,
                reachable: AtomicBool::new(false),
                events,
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        tokio::spawn(subscribe(fleet.clone()));
        Ok(fleet)
    }

    /// The full name of the shared key `name` (e.g. `token`).
    pub fn key(&self, name: &str) -> String {
        format!("{KEY_PREFIX}{name}")
    }

    /// The server, without credentials, for messages.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Whether the last round trip worked.
    pub fn is_reachable(&self) -> bool {
        self.inner.reachable.load(Ordering::Relaxed)
    }

    /// One PING: whether Redis answers now.
    pub async fn check(&self) -> Result<(), FleetError> {
        self.query::<String>("ping", &redis::cmd("PING"))
            .await
            .map(drop)
    }

    /// Runs one command; `operation` labels it in the metrics.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        command: &redis::Cmd,
    ) -> Result<T, FleetError> {
        let mut connection = self.inner.connection.clone();
        let started = Instant::now();
        let result = command.query_async(&mut connection).await;
        self.settle(operation, started, result)
    }

    /// Runs one Lua script (EVALSHA, loading it when Redis does not know it).
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, FleetError> {
        let mut connection = self.inner.connection.clone();
        let started = Instant::now();
        let result = invocation.invoke_async(&mut connection).await;
        self.settle(operation, started, result)
    }

    /// Runs a pipeline (one round trip).
    pub async fn pipeline<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        pipeline: &redis::Pipeline,
    ) -> Result<T, FleetError> {
        let mut connection = self.inner.connection.clone();
        let started = Instant::now();
        let result = pipeline.query_async(&mut connection).await;
        self.settle(operation, started, result)
    }

    /// Publishes `payload` on `channel`. A lost message is tolerated by
    /// design (see the module docs), so this only reports.
    pub async fn publish(&self, channel: Channel, payload: &str) -> Result<(), FleetError> {
        self.query::<i64>(
            "publish",
            redis::cmd("PUBLISH").arg(channel.name()).arg(payload),
        )
        .await
        .map(drop)
    }

    /// Every notification from now on, and [`Event::Resubscribed`] after
    /// each reconnect of the subscription.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Runs `future` to its end from a blocking thread (the token store's
    /// trait is blocking; the token owner calls it on the blocking pool).
    /// Never call it from a runtime worker thread.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.inner.runtime.block_on(future)
    }

    /// The metrics, for the parts that count their own events.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    fn settle<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: redis::RedisResult<T>,
    ) -> Result<T, FleetError> {
        self.inner
            .metrics
            .redis_round_trip(operation, result.is_ok(), started.elapsed());
        match result {
            Ok(value) => {
                self.inner.reachable.store(true, Ordering::Relaxed);
                Ok(value)
            }
            Err(error) => {
                if error.is_io_error() || error.is_timeout() || error.is_connection_dropped() {
                    self.inner.reachable.store(false, Ordering::Relaxed);
                }
                tracing::warn!(operation, error = %describe(&error), "a Redis call failed");
                Err(self.error(describe(&error)))
            }
        }
    }

    /// A [`FleetError`] for this server.
    pub fn error(&self, reason: impl Into<String>) -> FleetError {
        FleetError {
            location: self.inner.location.clone(),
            reason: reason.into(),
        }
    }
}

/// The subscriber: one pub/sub connection for every [`Channel`], re-opened
/// with backoff whenever it drops; each reopening is announced as
/// [`Event::Resubscribed`].
async fn subscribe(fleet: Fleet) {
    use futures_util::StreamExt;
    let mut pause = RESUBSCRIBE_MIN;
    let mut first = true;
    loop {
        match open_subscription(&fleet).await {
            Ok(pubsub) => {
                pause = RESUBSCRIBE_MIN;
                if !first {
                    fleet.inner.metrics.redis_resubscribed();
                    let _ = fleet.inner.events.send(Event::Resubscribed);
                }
                first = false;
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(channel) = Channel::from_name(message.get_channel_name()) else {
                        continue;
                    };
                    let payload: String = message.get_payload().unwrap_or_default();
                    let _ = fleet.inner.events.send(Event::Message { channel, payload });
                }
                tracing::warn!(redis = %fleet.location(), "the Redis subscription dropped; resubscribing");
                fleet.inner.reachable.store(false, Ordering::Relaxed);
            }
            Err(error) => {
                first = false;
                tracing::debug!(error = %describe(&error), "cannot subscribe to Redis yet");
            }
        }
        if fleet.inner.events.receiver_count() == 0 && Arc::strong_count(&fleet.inner) == 1 {
            return; // Nothing else holds the fleet any more.
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RESUBSCRIBE_MAX);
    }
}

async fn open_subscription(fleet: &Fleet) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub =
        tokio::time::timeout(CONNECTION_TIMEOUT, fleet.inner.client.get_async_pubsub())
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            })??;
    for channel in Channel::ALL {
        pubsub.subscribe(channel.name()).await?;
    }
    Ok(pubsub)
}

/// A Redis error in words that never quote a value: its kind and, for
/// server errors, the server's code.
fn describe(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal()
    {
        "cannot connect".to_owned()
    } else {
        match error.code() {
            Some(code) => format!("Redis answered {code}"),
            None => error.category().to_owned(),
        }
    }
}

/// `url` with any password replaced, e.g. `redis://:***@host:6379/0`.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => "(not a URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_reaches_the_location() {
        assert_eq!(
            redacted("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redacted("rediss://app:hunter2@cache:6380"),
            "rediss://app:***@cache:6380"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn channel_names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::from_name(&channel.name()), Some(channel));
        }
    }
}
