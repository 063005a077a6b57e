//! State that several replicas share through Redis (`PIXGATE_REDIS_URL`):
//! the token record and its refresh lock, pending logins, the upload
//! ledger, the credit budget and the favorites cache's shared tier. Without
//! `PIXGATE_REDIS_URL` none of this exists and nothing needs Redis.
//!
//! [`Fleet`] is the one connection to Redis every part goes through: a
//! multiplexed [`ConnectionManager`] (it reconnects by itself; a command that
//! fails is not retried, the caller decides), one subscriber task for the
//! notification channels, and the PING that `/readyz` asks for.
//! Every round trip is counted in the metrics by operation. The connection
//! and the subscriber live on a small runtime of their own, so blocking
//! code (the token store's trait, the ledger's thread, startup) can wait for
//! Redis from any thread without stalling the runtime that drives it.
//!
//! Keys all start with `{pixgate}:`: the hash tag keeps them in one cluster
//! slot, so a Lua script may touch several of them. Compare-and-set is
//! always a Lua script, never WATCH/MULTI (which mixes callers on a shared
//! multiplexed connection).
//!
//! Parts: [`token_store`] (the token record and the refresh lock),
//! [`favorites`] (the favorites cache's shared tier), [`RedisLedger`] (the
//! upload ledger), [`SharedBudget`] (Imgur's credit budget).
//!
//! Pub/sub is a hint, never the only path: a message can be lost while the
//! subscription reconnects, so every listener also gets
//! [`Event::Resubscribed`] after a reconnect and must then assume it missed
//! something (re-read the record, clear its local tier).

mod credits;
pub mod favorites;
mod ledger;
mod token_store;

pub use credits::SharedBudget;
pub use ledger::RedisLedger;
pub use token_store::RedisStore;

use crate::metrics::Metrics;
use crate::secret::Secret;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
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

/// A Lua script with its keys and arguments, ready to run with
/// [`Fleet::invoke`] (owned, so it can run on Redis's runtime).
#[derive(Clone)]
pub struct Lua {
    script: redis::Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Lua {
    pub fn new(script: &redis::Script) -> Self {
        Self {
            script: script.clone(),
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    pub fn key(mut self, key: impl redis::ToRedisArgs) -> Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    pub fn arg(mut self, arg: impl redis::ToRedisArgs) -> Self {
        self.args.extend(arg.to_redis_args());
        self
    }
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
    connection: ConnectionManager,
    location: String,
    metrics: Arc<Metrics>,
    signals: Arc<Signals>,
    /// Shut down (in the background) when the last clone goes.
    runtime: Option<tokio::runtime::Runtime>,
}

/// What the subscriber shares with every clone.
struct Signals {
    events: broadcast::Sender<Event>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("location", &self.inner.location)
            .finish()
    }
}

impl Fleet {
    /// Opens the connection lazily (nothing is sent yet) and starts the
    /// subscriber. Fails only on a URL that is not a Redis URL.
    pub fn connect(url: &Secret, metrics: Arc<Metrics>) -> Result<Self, FleetError> {
        let location = redacted(url.expose());
        let failed = |reason: String| FleetError {
            location: location.clone(),
            reason,
        };
        let invalid = |e: redis::RedisError| {
            failed(format!(
                "PIXGATE_REDIS_URL is not a usable redis:// or rediss:// URL ({})",
                e.category()
            ))
        };
        let client = redis::Client::open(url.expose()).map_err(invalid)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pixgate-redis")
            .enable_all()
            .build()
            .map_err(|e| failed(format!("cannot start its runtime: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = {
            let _entered = runtime.enter();
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(invalid)?
        };
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let signals = Arc::new(Signals { events });
        runtime.spawn(subscribe(
            client,
            location.clone(),
            Arc::clone(&metrics),
            Arc::clone(&signals),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                connection,
                location,
                metrics,
                signals,
                runtime: Some(runtime),
            }),
        })
    }

    /// The full name of the shared key `name` (e.g. `token`).
    pub fn key(&self, name: &str) -> String {
        format!("{KEY_PREFIX}{name}")
    }

    /// The server, without credentials, for messages.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// One PING: whether Redis answers now.
    pub async fn check(&self) -> Result<(), FleetError> {
        self.query::<String>("ping", &redis::cmd("PING"))
            .await
            .map(drop)
    }

    /// Waits until Redis answers, for at most `limit` (a replica starting
    /// next to a Redis that is still starting).
    pub async fn wait_until_reachable(&self, limit: Duration) -> Result<(), FleetError> {
        let deadline = Instant::now() + limit;
        loop {
            match self.check().await {
                Ok(()) => return Ok(()),
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(_) => {
                    tracing::info!(redis = %self.location(), "waiting for Redis");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Runs one command; `operation` labels it in the metrics.
    pub async fn query<T>(
        &self,
        operation: &'static str,
        command: &redis::Cmd,
    ) -> Result<T, FleetError>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        let command = command.clone();
        self.on_runtime(operation, move |mut connection| async move {
            command.query_async(&mut connection).await
        })
        .await
    }

    /// Runs one Lua script (EVALSHA, loading it when Redis does not know it).
    pub async fn invoke<T>(&self, operation: &'static str, script: Lua) -> Result<T, FleetError>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        self.on_runtime(operation, move |mut connection| async move {
            let mut invocation = script.script.prepare_invoke();
            for key in &script.keys {
                invocation.key(key.as_slice());
            }
            for arg in &script.args {
                invocation.arg(arg.as_slice());
            }
            invocation.invoke_async(&mut connection).await
        })
        .await
    }

    /// Runs `call` on Redis's own runtime: the connection, its reconnects
    /// and their tasks then live there, whichever runtime (or blocking
    /// thread) the caller is on, so a caller that blocks its own thread
    /// cannot stall the connection it waits for.
    async fn on_runtime<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T, FleetError>
    where
        T: Send + 'static,
        F: FnOnce(ConnectionManager) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = redis::RedisResult<T>> + Send + 'static,
    {
        let connection = self.inner.connection.clone();
        let started = Instant::now();
        let result = match self.spawn(call(connection)).await {
            Ok(result) => result,
            Err(_) => Err(redis::RedisError::from(std::io::Error::other(
                "Redis's runtime stopped",
            ))),
        };
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
        self.inner.signals.events.subscribe()
    }

    /// Runs `future` on Redis's own runtime and waits for it, from any
    /// thread: the blocking token store, the ledger's thread, startup.
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (sender, answer) = std::sync::mpsc::sync_channel(1);
        let runtime = self.inner.runtime.as_ref().expect("held until drop");
        runtime.spawn(async move {
            let _ = sender.send(future.await);
        });
        answer
            .recv()
            .expect("Redis's runtime runs its tasks to the end")
    }

    /// Runs `future` as a task on Redis's own runtime (renewals, watches).
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner
            .runtime
            .as_ref()
            .expect("held until drop")
            .spawn(future)
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
        result.map_err(|error| {
            tracing::warn!(operation, error = %describe(&error), "a Redis call failed");
            self.error(describe(&error))
        })
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
/// [`Event::Resubscribed`]. It ends with Redis's runtime.
async fn subscribe(
    client: redis::Client,
    location: String,
    metrics: Arc<Metrics>,
    signals: Arc<Signals>,
) {
    use futures_util::StreamExt;
    let mut pause = RESUBSCRIBE_MIN;
    let mut first = true;
    loop {
        match open_subscription(&client).await {
            Ok(pubsub) => {
                pause = RESUBSCRIBE_MIN;
                if !first {
                    metrics.redis_resubscribed();
                    let _ = signals.events.send(Event::Resubscribed);
                }
                first = false;
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(channel) = Channel::from_name(message.get_channel_name()) else {
                        continue;
                    };
                    let payload: String = message.get_payload().unwrap_or_default();
                    let _ = signals.events.send(Event::Message { channel, payload });
                }
                tracing::warn!(redis = %location, "the Redis subscription dropped; resubscribing");
            }
            Err(error) => {
                first = false;
                tracing::debug!(error = %describe(&error), "cannot subscribe to Redis yet");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RESUBSCRIBE_MAX);
    }
}

async fn open_subscription(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = tokio::time::timeout(CONNECTION_TIMEOUT, client.get_async_pubsub())
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
