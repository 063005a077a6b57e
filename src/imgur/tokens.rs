//! The token owner: the one task that holds the user's tokens, turns the
//! refresh token into access tokens, stores every answer of Imgur's token
//! endpoint durably, and takes in logins, logouts, Flickr's tokens and
//! other processes' changes to the token store.
//!
//! # Ownership
//! [`TokenOwner`] is a handle to a task (an actor) that owns the tokens, the
//! store and its cross-process lock. Every change (refresh, login, logout,
//! a write retried after a disk error, a reload after another process wrote
//! the store, Flickr's save and removal) is a command on one `mpsc` channel,
//! answered on a `oneshot`, and the task runs them one at a time. So there is
//! exactly one writer per process, a write can never put an older record back
//! over a newer one, and no lock is needed around the state: only the task
//! touches it. Between processes, the task takes the store's lock around
//! every write and re-reads the store under it first.
//!
//! # The hot path
//! The task publishes what callers need (the current access token, when to
//! refresh it, why there is none) on a `tokio::sync::watch`. A request reads
//! it with `borrow()`: an uncontended read of the latest value, no mutex a
//! writer holds across I/O, no syscall, no `stat`. Only a request that finds
//! no usable token talks to the task. Another process's change reaches the
//! task through a watch on the token file (inotify) and is re-checked under
//! the lock before each refresh, so the hot path never looks at the file.
//!
//! # Single flight, failures included
//! Refreshes run one at a time in the task, so any number of concurrent
//! callers cause one token request. A caller that asked while a refresh ran
//! gets that refresh's outcome, error included, instead of starting another.
//! The token request itself runs in a spawned task the owner awaits: a panic
//! there ends that flight with an error and the next caller starts a new one.
//!
//! # Never losing an answer
//! Whatever the token endpoint returned is kept in memory until it is
//! written; a failed write is retried with backoff, and while an unsaved
//! token exists no early refresh rotates it further (the access token is used
//! until it really expires). A failed early refresh keeps the working access
//! token and retries with backoff; a refresh is forced only when the token has
//! expired or Imgur rejected it.
//!
//! The one window no gateway can close: between Imgur's answer (it has
//! rotated the refresh token) and the durable rename of the new record
//! (about a millisecond: write, fsync, rename, fsync of the directory). A
//! crash there leaves the previous refresh token, which only a server that
//! accepts the previous token once more (a grace) still honours. See
//! `docs/RELIABILITY.md` for the measurement.

use super::error::{Error, ErrorKind, RateLimits};
use super::token_store::{
    fingerprint, StoreError, StoreLock, StoreWatch, StoredTokens, TokenStore,
};
use super::wire::{self, TokenRefusal};
use crate::config::ImgurConfig;
use crate::metrics::Metrics;
use crate::secret::Secret;
use serde::Serialize;
#[cfg(test)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

pub use super::token_store::FlickrTokens;

/// Refresh this long before the access token expires (or at half its
/// lifetime, for tokens that live less than two margins).
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime assumed when Imgur's answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest lifetime believed (Imgur has sent ten years); also keeps the
/// expiry arithmetic from overflowing on a garbage `expires_in`.
const MAX_LIFETIME: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// First wait after Imgur rejects the refresh token; doubles up to the max.
const REJECTION_BACKOFF: Duration = Duration::from_secs(30);
const MAX_REJECTION_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// First wait after the token endpoint failed (5xx, timeout, 429 without
/// `Retry-After`); doubles up to the max.
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(60);
/// First wait before retrying a failed write; doubles up to the max.
const WRITE_RETRY: Duration = Duration::from_millis(500);
const MAX_WRITE_RETRY: Duration = Duration::from_secs(30);
/// A 401 this soon after a successful refresh is not answered by another
/// refresh: the new token is fine, Imgur refuses something else.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

const NOT_AUTHORIZED: &str = "pixgate has no Imgur user authorization. Open /auth/login in a browser, run `pixgate login`, or set IMGUR_REFRESH_TOKEN (see README, \"Authorize your Imgur account\").";
const REFRESH_REJECTED: &str = "Imgur rejected the stored refresh token (revoked, or replaced by another login). Authorize again: open /auth/login in a browser or run `pixgate login`.";

/// Whether the gateway acts as a user or only as the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A refresh token is held: calls carry `Bearer` tokens.
    User,
    /// No refresh token: calls carry `Client-ID`; only anonymous uploads,
    /// reads and deletes by deletehash work.
    Anonymous,
}

/// What Imgur's token endpoint is asked to exchange.
pub enum Grant {
    /// An existing refresh token (also how one is checked before storing it).
    RefreshToken(Secret),
    /// The `code` of the browser code flow.
    AuthorizationCode(Secret),
    /// The PIN of the terminal flow.
    Pin(Secret),
}

impl Grant {
    fn fields(&self) -> [(&'static str, &str); 2] {
        match self {
            Grant::RefreshToken(t) => [
                ("grant_type", "refresh_token"),
                ("refresh_token", t.expose()),
            ],
            Grant::AuthorizationCode(c) => {
                [("grant_type", "authorization_code"), ("code", c.expose())]
            }
            Grant::Pin(p) => [("grant_type", "pin"), ("pin", p.expose())],
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Grant::RefreshToken(_) => "refresh token",
            Grant::AuthorizationCode(_) => "authorization code",
            Grant::Pin(_) => "PIN",
        }
    }
}

/// An access token and when it expires. Compared by value to tell whether a
/// rejected token is still the current one.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessToken {
    pub(crate) value: Secret,
    expires_at: SystemTime,
}

/// The account the tokens belong to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    pub username: Option<String>,
    pub id: Option<u64>,
}

/// The authorization state as `/auth/status` and `pixgate status` show it.
/// Never carries a token.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"authorized": true, "account_username": "demo", "account_id": 4242, "access_token_expires_at": "2026-11-22T15:00:00Z", "mode": "user"}))]
pub struct AuthStatus {
    /// Whether a refresh token is held.
    pub authorized: bool,
    pub account_username: Option<String>,
    pub account_id: Option<u64>,
    /// RFC 3339, when an access token is held.
    #[schema(example = "2026-11-22T15:00:00Z")]
    pub access_token_expires_at: Option<String>,
    /// `user` or `anonymous`.
    #[schema(example = "user")]
    pub mode: &'static str,
}

impl AuthStatus {
    /// The status the stored tokens describe.
    pub fn of(tokens: &StoredTokens) -> Self {
        let authorized = tokens.refresh_token.is_some();
        Self {
            authorized,
            account_username: tokens.account_username.clone(),
            account_id: tokens.account_id,
            access_token_expires_at: tokens
                .access_token
                .as_ref()
                .and(tokens.access_token_expires_at)
                .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            mode: if authorized { "user" } else { "anonymous" },
        }
    }
}

/// What the owner publishes for the hot path: one immutable snapshot per change.
#[derive(Clone)]
struct Published {
    tokens: Arc<StoredTokens>,
    /// When to refresh early; `None`: [`EXPIRY_MARGIN`] before expiry (a
    /// token loaded from the store, whose lifetime is unknown).
    refresh_at: Option<SystemTime>,
    /// Why no refresh may be tried now, until when.
    blocked: Option<(Instant, Error)>,
    /// The last write failed: no early refresh until it succeeds.
    unsaved: bool,
    /// Imgur refused the app's credentials at the last refresh.
    credentials_rejected: Option<Error>,
}

/// What the published state allows right now.
enum Current {
    Usable(AccessToken),
    /// Still valid, but due for an early refresh.
    Due,
    NeedsRefresh,
    /// No refresh token: anonymous mode.
    Anonymous,
    /// No refresh may be tried now (rejected token, backing off).
    Blocked(Error),
}

impl Published {
    fn classify(&self, now: SystemTime) -> Current {
        let tokens = &self.tokens;
        if tokens.refresh_token.is_none() {
            return Current::Anonymous;
        }
        if let (Some(value), Some(expires_at)) =
            (&tokens.access_token, tokens.access_token_expires_at)
        {
            if now < expires_at {
                let token = AccessToken {
                    value: value.clone(),
                    expires_at,
                };
                let refresh_at = self
                    .refresh_at
                    .unwrap_or_else(|| expires_at.checked_sub(EXPIRY_MARGIN).unwrap_or(UNIX_EPOCH));
                // An unsaved token is never rotated further before it expires.
                if now < refresh_at || self.unsaved || self.blocked_now() {
                    return Current::Usable(token);
                }
                return Current::Due;
            }
        }
        match &self.blocked {
            Some((until, error)) if Instant::now() < *until => Current::Blocked(error.clone()),
            _ => Current::NeedsRefresh,
        }
    }

    fn blocked_now(&self) -> bool {
        self.blocked
            .as_ref()
            .is_some_and(|(until, _)| Instant::now() < *until)
    }

    fn account(&self) -> Account {
        Account {
            username: self.tokens.account_username.clone(),
            id: self.tokens.account_id,
        }
    }
}

/// The commands the owner runs, one at a time.
enum Command {
    /// A caller needs a token: none is usable, or Imgur rejected `rejected`
    /// with `status`.
    Refresh {
        rejected: Option<AccessToken>,
        status: Option<u16>,
        asked_at: Instant,
        reply: oneshot::Sender<Result<Option<AccessToken>, Error>>,
    },
    Authorize {
        grant: Grant,
        reply: oneshot::Sender<Result<Account, Error>>,
    },
    Logout {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SaveFlickr {
        tokens: FlickrTokens,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    RemoveFlickr {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// The store may have been changed by another process.
    StoreChanged,
}

/// A handle to the token owner; cheap to clone. The owner task ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct TokenOwner {
    /// Each command with the caller's span, so the owner's log lines carry
    /// the request id.
    commands: mpsc::Sender<(Command, tracing::Span)>,
    current: watch::Receiver<Published>,
    /// Counts logins, logouts and other processes' changes of the account.
    authorizations: watch::Receiver<u64>,
    location: Arc<str>,
    /// Whether other replicas refresh through the same store.
    shared: bool,
    /// Stops the file watch when the last handle goes.
    _watch: Arc<Option<StoreWatch>>,
    /// Makes the next token request panic (the test of a panicking flight).
    #[cfg(test)]
    panic_in_next_request: Arc<AtomicBool>,
}

impl TokenOwner {
    /// Loads the store, reconciles it with `IMGUR_REFRESH_TOKEN` (the store
    /// wins unless the environment value differs from the one it was seeded
    /// from: the user re-authorized), writes a new seed at once (which also
    /// proves the store is writable before serving), and starts the owner
    /// task. Needs a Tokio runtime.
    pub fn open(
        config: &ImgurConfig,
        store: Arc<dyn TokenStore>,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let seed_fingerprint = config.refresh_token.as_ref().map(fingerprint);
        let lock = store.lock()?;
        let stored = store.load()?;
        let tokens = match (&config.refresh_token, stored) {
            (Some(_), Some(stored)) if stored.seed_fingerprint == seed_fingerprint => stored,
            (Some(seed), stored) => {
                let kept = stored.unwrap_or_default();
                let mut seeded = kept.without_imgur();
                seeded.refresh_token = Some(seed.clone());
                seeded.seed_fingerprint = seed_fingerprint.clone();
                seeded.revision = store.save(&lock, &seeded)?;
                tracing::info!(store = %store.location(), "seeded the token file from IMGUR_REFRESH_TOKEN");
                seeded
            }
            (None, Some(stored)) => stored,
            (None, None) => StoredTokens::default(),
        };
        drop(lock);
        let on_disk = !tokens.is_empty();
        if tokens.refresh_token.is_some() {
            store.ensure_writable()?;
        }
        let (commands, receiver) = mpsc::channel(1024);
        let (publisher, current) = watch::channel(Published {
            tokens: Arc::new(tokens.clone()),
            refresh_at: None,
            blocked: None,
            unsaved: false,
            credentials_rejected: None,
        });
        let (authorization_count, authorizations) = watch::channel(0);
        let changed = {
            let commands = commands.clone();
            // A full queue already holds work that ends in a reload of the store.
            Box::new(move || {
                let _ = commands.try_send((Command::StoreChanged, tracing::Span::none()));
            })
        };
        let store_watch = store.watch(changed);
        let location: Arc<str> = store.location().into();
        let shared = store.is_shared();
        #[cfg(test)]
        let panic_in_next_request = Arc::new(AtomicBool::new(false));
        let owner = Owner {
            store,
            http,
            token_url: format!("{}/oauth2/token", config.api_url),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            timeout: config.timeout,
            seed_fingerprint,
            metrics,
            tokens,
            refresh_at: None,
            unsaved: None,
            rejection: None,
            failure: None,
            credentials_rejected: None,
            last_success: None,
            on_disk,
            publisher,
            authorizations: authorization_count,
            #[cfg(test)]
            panic_in_next_request: Arc::clone(&panic_in_next_request),
        };
        tokio::spawn(owner.run(receiver));
        Ok(Self {
            commands,
            current,
            authorizations,
            location,
            shared,
            _watch: Arc::new(store_watch),
            #[cfg(test)]
            panic_in_next_request,
        })
    }

    /// The account of the current tokens (known after the first refresh).
    pub fn account(&self) -> Account {
        self.current.borrow().account()
    }

    /// The authorization state, without any token.
    pub fn status(&self) -> AuthStatus {
        AuthStatus::of(&self.current.borrow().tokens)
    }

    /// Where the tokens are stored.
    /// Whether other replicas refresh through the same store (Redis).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Changes each time the authorization changes (a login, a logout, or
    /// another process's): the favorites cache drops its pages on it.
    pub fn authorization_changes(&self) -> watch::Receiver<u64> {
        self.authorizations.clone()
    }

    /// Why the gateway is not ready although a token may still work: Imgur
    /// refused the app's credentials at the last refresh.
    pub fn credentials_rejected(&self) -> Option<Error> {
        self.current.borrow().credentials_rejected.clone()
    }

    /// Flickr's tokens, if stored (a read of the published state, no I/O).
    pub fn flickr_tokens(&self) -> Option<FlickrTokens> {
        self.current.borrow().tokens.flickr.clone()
    }

    /// Stores Flickr's tokens beside Imgur's. A failed write keeps them in
    /// memory (in use) and retries: the error says so.
    pub async fn save_flickr(&self, tokens: FlickrTokens) -> Result<(), Error> {
        self.ask(|reply| Command::SaveFlickr { tokens, reply })
            .await
    }

    /// Forgets Flickr's tokens (Imgur's stay).
    pub async fn remove_flickr(&self) -> Result<(), Error> {
        self.ask(|reply| Command::RemoveFlickr { reply }).await
    }

    /// The user's account, for keying cached pages. Known from the store or
    /// learned by the first refresh; a rejected or missing authorization is
    /// an error even when a cached page exists.
    pub async fn user_account(&self) -> Result<Account, Error> {
        let (current, account) = {
            let published = self.current.borrow();
            (published.classify(SystemTime::now()), published.account())
        };
        match current {
            Current::Anonymous => Err(authorization_required(NOT_AUTHORIZED)),
            Current::Blocked(error) => Err(error),
            Current::NeedsRefresh if account.username.is_none() => {
                self.access_token().await?;
                Ok(self.account())
            }
            _ => Ok(account),
        }
    }

    /// In user mode a valid access token (refreshed if needed); `None` in
    /// anonymous mode.
    pub async fn access_token_if_user(&self) -> Result<Option<AccessToken>, Error> {
        let current = self.current.borrow().classify(SystemTime::now());
        match current {
            Current::Anonymous => Ok(None),
            other => self.resolve(other).await.map(Some),
        }
    }

    /// A valid access token, refreshing first when none is held or it
    /// expires within a minute (when that early refresh fails, the still
    /// valid token is used).
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        let current = self.current.borrow().classify(SystemTime::now());
        self.resolve(current).await
    }

    async fn resolve(&self, current: Current) -> Result<AccessToken, Error> {
        match current {
            Current::Usable(token) => Ok(token),
            // Refreshed now, so the call goes out with the new token; if the
            // refresh fails the owner answers this still valid one.
            Current::Due | Current::NeedsRefresh => self
                .refresh(None, None)
                .await
                .and_then(|token| token.ok_or_else(|| authorization_required(NOT_AUTHORIZED))),
            Current::Anonymous => Err(authorization_required(NOT_AUTHORIZED)),
            Current::Blocked(error) => Err(error),
        }
    }

    /// Imgur rejected `rejected` with HTTP `status`: a refreshed token to
    /// replay with (another caller's refresh counts), or `None` when this is
    /// a 401 within 10 s of a successful refresh: then the caller answers
    /// Imgur's error instead of refreshing again.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &AccessToken,
        status: u16,
    ) -> Result<Option<AccessToken>, Error> {
        self.refresh(Some(rejected.clone()), Some(status)).await
    }

    async fn refresh(
        &self,
        rejected: Option<AccessToken>,
        status: Option<u16>,
    ) -> Result<Option<AccessToken>, Error> {
        let asked_at = Instant::now();
        self.ask(|reply| Command::Refresh {
            rejected,
            status,
            asked_at,
            reply,
        })
        .await
    }

    /// Exchanges `grant` for tokens, stores them and makes them current at
    /// once: the next request uses the new account. A refresh-token grant is
    /// how an existing token is checked (one refresh) before it is kept.
    /// When the write fails the login is in use anyway and the error
    /// ([`ErrorKind::NotStored`]) says so; [`TokenOwner::stored`] tells when
    /// the retried write succeeded.
    pub async fn authorize(&self, grant: Grant) -> Result<Account, Error> {
        self.ask(|reply| Command::Authorize { grant, reply }).await
    }

    /// Forgets Imgur's tokens (under the store's lock) and switches to
    /// anonymous mode.
    pub async fn logout(&self) -> Result<(), Error> {
        self.ask(|reply| Command::Logout { reply }).await
    }

    /// Waits until nothing held in memory is waiting to be written.
    pub async fn stored(&self) {
        let mut current = self.current.clone();
        let _ = current.wait_for(|published| !published.unsaved).await;
    }

    /// Sends a command and awaits its answer. The owner runs it to the end
    /// even if this caller is dropped (a client that disconnected).
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        let gone = || Error::local(ErrorKind::Unreachable("the token owner stopped".into()));
        self.commands
            .send((command(reply), tracing::Span::current()))
            .await
            .map_err(|_| gone())?;
        answer.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// A write that failed and is retried.
/// The lock (a lease) ran out before a token request was sent.
struct LeaseLost;

/// How often a refresh takes the lock again after losing its lease.
const LEASE_ATTEMPTS: usize = 3;

struct Unsaved {
    next_try: Instant,
    pause: Duration,
}

/// A failed refresh: shared with the callers that asked during it, and a
/// wait before the next try.
struct Failure {
    error: Error,
    finished: Instant,
    retry_at: Instant,
    pause: Duration,
}

/// The owner task's state. Only [`Owner::run`] touches it.
struct Owner {
    store: Arc<dyn TokenStore>,
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Option<Secret>,
    timeout: Duration,
    /// Fingerprint of `IMGUR_REFRESH_TOKEN`, recorded in every login written,
    /// so a restart with the same environment keeps a newer login.
    seed_fingerprint: Option<String>,
    metrics: Arc<Metrics>,
    tokens: StoredTokens,
    refresh_at: Option<SystemTime>,
    unsaved: Option<Unsaved>,
    /// Imgur rejected the refresh token: until when, and the backoff.
    rejection: Option<(Instant, Duration)>,
    failure: Option<Failure>,
    credentials_rejected: Option<(Instant, Duration, Error)>,
    last_success: Option<Instant>,
    /// Whether the store held a record when last read or written (so its
    /// disappearance is another process's logout).
    on_disk: bool,
    publisher: watch::Sender<Published>,
    authorizations: watch::Sender<u64>,
    #[cfg(test)]
    panic_in_next_request: Arc<AtomicBool>,
}

/// How one token request ended.
enum Exchange {
    Answered(wire::TokenResponse),
    Refused(TokenRefusal, Option<u16>, RateLimits),
    Failed(Error),
    /// The request's task panicked or was cancelled: a bug, not Imgur; the
    /// callers that waited get the error, the next one tries anew.
    Panicked(Error),
}

impl Owner {
    async fn run(mut self, mut commands: mpsc::Receiver<(Command, tracing::Span)>) {
        loop {
            let retry = self.unsaved.as_ref().map(|u| u.next_try);
            let command = tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => command,
                    None => break,
                },
                _ = sleep_until(retry), if retry.is_some() => {
                    self.retry_write().await;
                    continue;
                }
            };
            let (command, span) = command;
            self.handle(command).instrument(span).await;
        }
        if self.unsaved.is_some() {
            // The process is ending; one last try.
            self.retry_write().await;
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Refresh {
                rejected,
                status,
                asked_at,
                reply,
            } => {
                let answer = self.refresh(rejected, status, asked_at).await;
                let _ = reply.send(answer);
            }
            Command::Authorize { grant, reply } => {
                let _ = reply.send(self.authorize(grant).await);
            }
            Command::Logout { reply } => {
                let _ = reply.send(self.logout().await);
            }
            Command::SaveFlickr { tokens, reply } => {
                let _ = reply.send(self.change_flickr(Some(tokens)).await);
            }
            Command::RemoveFlickr { reply } => {
                let _ = reply.send(self.change_flickr(None).await);
            }
            Command::StoreChanged => {
                self.reread().await;
                self.publish();
            }
        }
    }

    /// The current access token if it is valid and not `rejected`.
    fn valid_token(&self, rejected: Option<&AccessToken>) -> Option<AccessToken> {
        let value = self.tokens.access_token.clone()?;
        let expires_at = self.tokens.access_token_expires_at?;
        let token = AccessToken { value, expires_at };
        (SystemTime::now() < expires_at && rejected != Some(&token)).then_some(token)
    }

    async fn refresh(
        &mut self,
        rejected: Option<AccessToken>,
        status: Option<u16>,
        asked_at: Instant,
    ) -> Result<Option<AccessToken>, Error> {
        if self.tokens.refresh_token.is_none() {
            return Err(authorization_required(NOT_AUTHORIZED));
        }
        if rejected.is_none() {
            if let Some(token) = self.valid_token(None) {
                return Ok(Some(self.refresh_early(token, asked_at).await));
            }
        }
        // Another caller's refresh (or a login) already replaced it.
        if let Some(token) = self.valid_token(rejected.as_ref()) {
            return Ok(Some(token));
        }
        if rejected.is_some()
            && status == Some(401)
            && self
                .last_success
                .is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL)
        {
            tracing::warn!(
                "Imgur answered 401 right after a successful refresh; not refreshing again"
            );
            return Ok(None);
        }
        if let Some(failure) = &self.failure {
            // Asked while the failed refresh ran: its outcome is the answer.
            if asked_at <= failure.finished || Instant::now() < failure.retry_at {
                return Err(failure.error.clone());
            }
        }
        if let Some((until, _)) = self.rejection {
            if Instant::now() < until {
                return Err(authorization_required(REFRESH_REJECTED));
            }
        }
        self.refresh_now(rejected.as_ref()).await.map(Some)
    }

    /// A still valid token that is due for an early refresh: refreshed
    /// unless that must wait (an unsaved write, a backoff); on failure the
    /// valid token is kept, with a warning, and retried after a backoff.
    async fn refresh_early(&mut self, token: AccessToken, asked_at: Instant) -> AccessToken {
        let due = SystemTime::now() >= self.early_deadline(&token);
        let waiting = self
            .failure
            .as_ref()
            .is_some_and(|f| asked_at <= f.finished || Instant::now() < f.retry_at)
            || self
                .rejection
                .is_some_and(|(until, _)| Instant::now() < until)
            || self
                .credentials_rejected
                .as_ref()
                .is_some_and(|(until, _, _)| Instant::now() < *until);
        if !due || self.unsaved.is_some() || waiting {
            return token;
        }
        match self.refresh_now(None).await {
            Ok(token) => token,
            Err(error) => {
                let retry_in = self
                    .failure
                    .as_ref()
                    .map(|f| f.retry_at.saturating_duration_since(Instant::now()))
                    .unwrap_or(FAILURE_BACKOFF);
                tracing::warn!(error = %error, retry_in_ms = retry_in.as_millis() as u64, "the early token refresh failed; the current access token stays in use");
                match self.valid_token(None) {
                    Some(still) => {
                        self.refresh_at =
                            Some((SystemTime::now() + retry_in).min(still.expires_at));
                        self.publish();
                        still
                    }
                    None => token,
                }
            }
        }
    }

    /// One refresh under the store's lock: first re-reads the store (another
    /// process may have refreshed), then asks Imgur with the current refresh
    /// token, then with the previous one if the current one is rejected.
    async fn refresh_now(&mut self, rejected: Option<&AccessToken>) -> Result<AccessToken, Error> {
        for _ in 0..LEASE_ATTEMPTS {
            if let Ok(outcome) = self.refresh_locked(rejected).await {
                return outcome;
            }
            tracing::warn!("lost the shared token lock before asking Imgur; taking it again");
        }
        Err(Error::local(ErrorKind::StoreUnavailable(
            "the shared token lock was lost before every refresh attempt; try again".into(),
        )))
    }

    /// [`Owner::refresh_now`] with the lock taken once; `Err(LeaseLost)`
    /// when the lock (a lease) ran out before a token request was sent,
    /// which then was not sent.
    async fn refresh_locked(
        &mut self,
        rejected: Option<&AccessToken>,
    ) -> Result<Result<AccessToken, Error>, LeaseLost> {
        let lock = match self.lock().await {
            Ok(lock) => lock,
            Err(error) => return Ok(Err(error)),
        };
        self.reread().await;
        if let Some(token) = self.valid_token(rejected) {
            if rejected.is_some() || SystemTime::now() < self.early_deadline(&token) {
                self.publish();
                return Ok(Ok(token));
            }
        }
        let Some(current) = self.tokens.refresh_token.clone() else {
            self.publish();
            return Ok(Err(authorization_required(NOT_AUTHORIZED)));
        };
        let mut candidates = vec![current];
        candidates.extend(
            self.tokens
                .previous_refresh_token
                .clone()
                .filter(|p| p != &candidates[0]),
        );
        let mut stored_candidates_read = false;
        let mut next = 0;
        while next < candidates.len() || !stored_candidates_read {
            if next == candidates.len() {
                // Every refresh token of the record was rejected: before
                // giving up, the tokens other replicas got but could not store.
                stored_candidates_read = true;
                for candidate in self.stored_candidates().await {
                    if !candidates.contains(&candidate) {
                        candidates.push(candidate);
                    }
                }
                continue;
            }
            let refresh_token = candidates[next].clone();
            let from_store = stored_candidates_read;
            next += 1;
            if !self.confirm(&lock).await {
                return Err(LeaseLost);
            }
            match self
                .exchange(&Grant::RefreshToken(refresh_token.clone()))
                .await
            {
                Exchange::Answered(response) => {
                    self.metrics.token_refresh("ok");
                    if from_store {
                        tracing::info!("a refresh token another replica could not store worked; it becomes the record");
                        self.forget_candidate(&lock, &refresh_token).await;
                    }
                    let token = self.adopt(&lock, response, refresh_token).await;
                    return Ok(Ok(token));
                }
                Exchange::Refused(TokenRefusal::Grant, _, _) => {
                    self.metrics.token_refresh("rejected");
                    tracing::warn!("Imgur rejected a refresh token");
                    if from_store {
                        self.forget_candidate(&lock, &refresh_token).await;
                    }
                }
                Exchange::Refused(TokenRefusal::ClientCredentials(message), status, limits) => {
                    self.metrics.token_refresh("rejected");
                    let error = client_credentials_error(&message, status, limits);
                    let backoff = self
                        .credentials_rejected
                        .as_ref()
                        .map(|(_, b, _)| (*b * 2).min(MAX_REJECTION_BACKOFF))
                        .unwrap_or(REJECTION_BACKOFF);
                    tracing::error!(retry_in_secs = backoff.as_secs(), "Imgur rejected the app's client id or secret; check IMGUR_CLIENT_ID and IMGUR_CLIENT_SECRET");
                    self.credentials_rejected =
                        Some((Instant::now() + backoff, backoff, error.clone()));
                    self.publish();
                    return Ok(Err(error));
                }
                Exchange::Refused(TokenRefusal::Other(kind), status, limits) => {
                    let error = Error {
                        kind,
                        upstream_status: status,
                        rate_limits: limits,
                    };
                    return Ok(Err(self.failed(error)));
                }
                Exchange::Failed(error) => return Ok(Err(self.failed(error))),
                Exchange::Panicked(error) => {
                    let now = Instant::now();
                    self.failure = Some(Failure {
                        error: error.clone(),
                        finished: now,
                        retry_at: now,
                        pause: FAILURE_BACKOFF,
                    });
                    self.publish();
                    return Ok(Err(error));
                }
            }
        }
        let backoff = self
            .rejection
            .map(|(_, b)| (b * 2).min(MAX_REJECTION_BACKOFF))
            .unwrap_or(REJECTION_BACKOFF);
        self.rejection = Some((Instant::now() + backoff, backoff));
        self.tokens.access_token = None;
        tracing::error!(
            retry_in_secs = backoff.as_secs(),
            "Imgur rejected every stored refresh token; user endpoints answer 403 until it is re-authorized"
        );
        self.publish();
        Ok(Err(authorization_required(REFRESH_REJECTED)))
    }

    /// Whether the store's lock is still held, right before a token request.
    async fn confirm(&self, lock: &Arc<StoreLock>) -> bool {
        let store = Arc::clone(&self.store);
        let lock = Arc::clone(lock);
        // Unknown counts as lost: the lock is taken again (or its failure
        // answered) before anything is sent.
        blocking(move || store.confirm(&lock))
            .await
            .unwrap_or_default()
    }

    /// The refresh tokens of the store's candidates, newest first.
    async fn stored_candidates(&self) -> Vec<Secret> {
        let store = Arc::clone(&self.store);
        blocking(move || store.candidates())
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.refresh_token)
            .collect()
    }

    async fn forget_candidate(&self, lock: &Arc<StoreLock>, refresh_token: &Secret) {
        let store = Arc::clone(&self.store);
        let lock = Arc::clone(lock);
        let refresh_token = refresh_token.clone();
        let _ = blocking(move || store.forget_candidate(&lock, &refresh_token)).await;
    }

    /// When `token` becomes due for an early refresh.
    fn early_deadline(&self, token: &AccessToken) -> SystemTime {
        self.refresh_at.unwrap_or_else(|| {
            token
                .expires_at
                .checked_sub(EXPIRY_MARGIN)
                .unwrap_or(UNIX_EPOCH)
        })
    }

    /// Records a failed refresh (shared with the callers waiting for it) and
    /// the wait before the next: `Retry-After` when Imgur sent one, else a
    /// doubling backoff.
    fn failed(&mut self, error: Error) -> Error {
        self.metrics.token_refresh("failed");
        tracing::warn!(error = %error, "token refresh failed");
        let pause = self
            .failure
            .as_ref()
            .map(|f| (f.pause * 2).min(MAX_FAILURE_BACKOFF))
            .unwrap_or(FAILURE_BACKOFF);
        let asked_wait = match &error.kind {
            ErrorKind::RateLimited { retry_after, .. }
            | ErrorKind::OverCapacity { retry_after, .. } => {
                Some(Duration::from_secs(*retry_after))
            }
            _ => None,
        };
        let now = Instant::now();
        self.failure = Some(Failure {
            error: error.clone(),
            finished: now,
            retry_at: now + asked_wait.unwrap_or(pause),
            pause,
        });
        self.publish();
        error
    }

    /// Keeps a refresh's answer: the rotated refresh token is written first,
    /// under the lock still held; a failed write keeps everything in memory
    /// and retries. Either way the new access token is used.
    async fn adopt(
        &mut self,
        lock: &Arc<StoreLock>,
        response: wire::TokenResponse,
        used: Secret,
    ) -> AccessToken {
        let lifetime = lifetime(&response);
        let mut next = self.tokens.clone();
        let rotated = response
            .refresh_token
            .clone()
            .filter(|r| !r.is_empty())
            .map(Secret::new)
            .filter(|r| r != &used);
        if let Some(new_refresh) = rotated {
            next.previous_refresh_token = Some(used);
            next.refresh_token = Some(new_refresh);
        } else {
            next.refresh_token = Some(used);
        }
        let token = apply_access_token(&mut next, response, lifetime);
        self.tokens = next;
        self.refresh_at = token
            .expires_at
            .checked_sub(EXPIRY_MARGIN.min(lifetime / 2));
        self.rejection = None;
        self.failure = None;
        self.credentials_rejected = None;
        self.last_success = Some(Instant::now());
        if self.save(lock).await.is_err() {
            tracing::error!(
                "could not store the refreshed tokens; keeping them in memory and retrying"
            );
        }
        tracing::info!(
            account = self.tokens.account_username.as_deref().unwrap_or("?"),
            expires_in_secs = lifetime.as_secs(),
            "refreshed the Imgur access token"
        );
        self.publish();
        token
    }

    async fn authorize(&mut self, grant: Grant) -> Result<Account, Error> {
        let lock = self.lock().await?;
        self.reread().await;
        let kind = grant.describe();
        let response = match self.exchange(&grant).await {
            Exchange::Answered(response) => response,
            Exchange::Refused(TokenRefusal::Grant, _, _) => {
                return Err(Error::local(ErrorKind::Rejected {
                    message: format!(
                        "Imgur rejected the {kind}; it may be wrong, used already, or expired"
                    ),
                }))
            }
            Exchange::Refused(TokenRefusal::ClientCredentials(message), status, limits) => {
                return Err(client_credentials_error(&message, status, limits))
            }
            Exchange::Refused(TokenRefusal::Other(kind), status, limits) => {
                return Err(Error {
                    kind,
                    upstream_status: status,
                    rate_limits: limits,
                })
            }
            Exchange::Failed(error) | Exchange::Panicked(error) => return Err(error),
        };
        let fallback = match grant {
            Grant::RefreshToken(token) => Some(token),
            _ => None,
        };
        let lifetime = lifetime(&response);
        let mut next = self.tokens.without_imgur();
        next.refresh_token = response
            .refresh_token
            .clone()
            .filter(|r| !r.is_empty())
            .map(Secret::new)
            .or(fallback);
        next.seed_fingerprint = self.seed_fingerprint.clone();
        if next.refresh_token.is_none() {
            return Err(Error::local(ErrorKind::InvalidResponse {
                detail: "Imgur's token answer has no refresh token".into(),
            }));
        }
        let token = apply_access_token(&mut next, response, lifetime);
        self.replace(next);
        self.refresh_at = token
            .expires_at
            .checked_sub(EXPIRY_MARGIN.min(lifetime / 2));
        self.last_success = Some(Instant::now());
        let saved = self.save(&lock).await;
        self.publish();
        let account = Account {
            username: self.tokens.account_username.clone(),
            id: self.tokens.account_id,
        };
        match saved {
            Ok(()) => {
                tracing::info!(grant = kind, "authorized a new Imgur account");
                Ok(account)
            }
            Err(cause) => Err(Error::local(ErrorKind::NotStored {
                message: format!(
                    "Imgur accepted the login and pixgate uses it now, but it is not stored yet: {cause}. pixgate keeps retrying the write; until it succeeds a restart loses this login. Free space or fix the permissions of {}.",
                    self.store.location()
                ),
            })),
        }
    }

    async fn logout(&mut self) -> Result<(), Error> {
        let lock = self.lock().await?;
        self.reread().await;
        let next = self.tokens.without_imgur();
        let store = Arc::clone(&self.store);
        let written = next.clone();
        let result = blocking(move || {
            if written.is_empty() {
                store.remove(&lock).map(|()| 0)
            } else {
                store.save(&lock, &written)
            }
        })
        .await;
        match result {
            Ok(revision) => {
                self.on_disk = !next.is_empty();
                self.replace(StoredTokens { revision, ..next });
                self.unsaved = None;
                tracing::info!("logged out: the stored Imgur tokens were deleted");
                self.publish();
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn change_flickr(&mut self, flickr: Option<FlickrTokens>) -> Result<(), Error> {
        let lock = self.lock().await?;
        self.reread().await;
        let before = self.tokens.flickr.clone();
        let saving = flickr.is_some();
        self.tokens.flickr = flickr;
        if self.tokens.is_empty() {
            let store = Arc::clone(&self.store);
            let removed = blocking(move || store.remove(&lock)).await;
            if removed.is_ok() {
                self.tokens.revision = 0;
                self.unsaved = None;
                self.on_disk = false;
            }
            if removed.is_err() {
                self.tokens.flickr = before;
            }
            self.publish();
            return removed;
        }
        let saved = self.save(&lock).await;
        match saved {
            Ok(()) => {
                self.publish();
                Ok(())
            }
            Err(cause) if saving => {
                self.publish();
                Err(Error::local(ErrorKind::NotStored {
                    message: format!("Flickr's tokens are in use but not stored yet: {cause}. pixgate keeps retrying the write."),
                }))
            }
            Err(cause) => {
                // The store still holds them: so does memory.
                self.unsaved = None;
                self.tokens.flickr = before;
                self.publish();
                Err(Error::local(ErrorKind::Storage(cause.to_string())))
            }
        }
    }

    /// Writes the current tokens under `lock`; on failure they stay in
    /// memory, marked unsaved, and a retry is scheduled.
    async fn save(&mut self, lock: &Arc<StoreLock>) -> Result<(), StoreError> {
        let store = Arc::clone(&self.store);
        let tokens = self.tokens.clone();
        let lock = Arc::clone(lock);
        let result = tokio::task::spawn_blocking(move || store.save(&lock, &tokens))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Write {
                    path: Default::default(),
                    source: std::io::Error::other(e.to_string()),
                })
            });
        match result {
            Ok(revision) => {
                self.tokens.revision = revision;
                self.unsaved = None;
                self.on_disk = true;
                Ok(())
            }
            Err(error @ StoreError::Conflict { .. }) => {
                // The store kept ours as a candidate; the newer record wins.
                tracing::warn!(error = %error, "using the tokens another replica stored");
                self.unsaved = None;
                self.reread().await;
                Err(error)
            }
            Err(error) => {
                tracing::error!(error = %error, "could not write the token store; keeping the tokens in memory and retrying");
                let pause = self
                    .unsaved
                    .as_ref()
                    .map(|u| (u.pause * 2).min(MAX_WRITE_RETRY))
                    .unwrap_or(WRITE_RETRY);
                self.unsaved = Some(Unsaved {
                    next_try: Instant::now() + pause,
                    pause,
                });
                Err(error)
            }
        }
    }

    /// Retries a failed write, under the lock, after re-reading the store.
    async fn retry_write(&mut self) {
        let Ok(lock) = self.lock().await else {
            if let Some(unsaved) = &mut self.unsaved {
                unsaved.pause = (unsaved.pause * 2).min(MAX_WRITE_RETRY);
                unsaved.next_try = Instant::now() + unsaved.pause;
            }
            return;
        };
        self.reread().await;
        if self.unsaved.is_none() {
            // The store's newer record replaced what was waiting.
            self.publish();
            return;
        }
        if self.save(&lock).await.is_ok() {
            tracing::info!("stored the tokens after an earlier failure");
        }
        self.publish();
    }

    /// Re-reads the store and takes in another process's change: a newer
    /// record ([`Owner::merge`]), or a removal of one this owner had seen
    /// stored (a logout elsewhere), which is honoured even over an unsaved
    /// refresh. An unreadable store keeps the current tokens.
    async fn reread(&mut self) {
        match self.load().await {
            Ok(Some(stored)) => {
                self.merge(stored);
                self.on_disk = true;
            }
            Ok(None) if self.on_disk => {
                self.on_disk = false;
                if !self.tokens.is_empty() {
                    tracing::info!(store = %self.store.location(), "the token file was removed (a logout in another process); continuing anonymously");
                    self.replace(StoredTokens::default());
                }
            }
            Err(StoreError::Missing { .. })
                if !self.tokens.is_empty() && self.unsaved.is_none() =>
            {
                // Lost by the store, not a logout: written back from memory.
                self.unsaved = Some(Unsaved {
                    next_try: Instant::now(),
                    pause: WRITE_RETRY,
                });
            }
            _ => {}
        }
    }

    /// Takes in a record another process wrote. An unsaved refresh of the
    /// same authorization is newer than the store (its refresh token came
    /// from the stored one) and stays; anything else in the store (a login
    /// or logout elsewhere) replaces the Imgur part. Flickr's part is the
    /// store's: no refresh here changes it.
    fn merge(&mut self, stored: StoredTokens) {
        if stored.revision == self.tokens.revision && self.unsaved.is_none() {
            return;
        }
        if stored == self.tokens {
            return;
        }
        let ours_is_newer = self.unsaved.is_some()
            && stored.refresh_token.is_some()
            && (stored.refresh_token == self.tokens.previous_refresh_token
                || stored.refresh_token == self.tokens.refresh_token);
        if ours_is_newer {
            self.tokens.flickr = stored.flickr;
            self.tokens.revision = stored.revision;
            return;
        }
        if self.unsaved.is_some() {
            tracing::warn!(store = %self.store.location(), "another process stored a different authorization while ours was waiting to be written; using the stored one");
        }
        let same_authorization = stored.refresh_token == self.tokens.refresh_token
            || stored.previous_refresh_token == self.tokens.refresh_token
            // Two refreshes of one refresh token (a replica that lost the race).
            || (stored.previous_refresh_token.is_some()
                && stored.previous_refresh_token == self.tokens.previous_refresh_token);
        if same_authorization {
            tracing::info!(store = %self.store.location(), "another process refreshed the tokens; using its tokens");
            self.tokens = stored;
            self.refresh_at = None;
            self.unsaved = None;
            self.failure = None;
            self.rejection = None;
        } else {
            tracing::info!(store = %self.store.location(), "the token file changed; using its tokens");
            self.replace(stored);
        }
    }

    /// Makes `tokens` current as a new authorization: every earlier backoff
    /// goes, and the favorites of the old account with it.
    fn replace(&mut self, tokens: StoredTokens) {
        self.tokens = tokens;
        self.refresh_at = None;
        self.unsaved = None;
        self.rejection = None;
        self.failure = None;
        self.credentials_rejected = None;
        self.authorizations.send_modify(|n| *n += 1);
    }

    fn publish(&self) {
        let blocked = self
            .rejection
            .map(|(until, _)| (until, authorization_required(REFRESH_REJECTED)))
            .or_else(|| {
                self.failure
                    .as_ref()
                    .filter(|f| Instant::now() < f.retry_at)
                    .map(|f| (f.retry_at, f.error.clone()))
            })
            .or_else(|| {
                self.credentials_rejected
                    .as_ref()
                    .map(|(until, _, error)| (*until, error.clone()))
            });
        self.publisher.send_replace(Published {
            tokens: Arc::new(self.tokens.clone()),
            refresh_at: self.refresh_at,
            blocked,
            unsaved: self.unsaved.is_some(),
            credentials_rejected: self
                .credentials_rejected
                .as_ref()
                .map(|(_, _, e)| e.clone()),
        });
    }

    async fn lock(&self) -> Result<Arc<StoreLock>, Error> {
        let store = Arc::clone(&self.store);
        blocking(move || store.lock()).await.map(Arc::new)
    }

    async fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        let store = Arc::clone(&self.store);
        let loaded = tokio::task::spawn_blocking(move || store.load())
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Write {
                    path: Default::default(),
                    source: std::io::Error::other(e.to_string()),
                })
            });
        if let Err(e) = &loaded {
            tracing::warn!(error = %e, "the token store cannot be read; keeping the current tokens");
        }
        loaded
    }

    /// One token request, in its own task: a panic there ends only this
    /// request (the owner answers an error and goes on).
    async fn exchange(&self, grant: &Grant) -> Exchange {
        let secret = self
            .client_secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let [grant_type, value] = grant.fields();
        let form: Vec<(String, String)> = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", secret.as_str()),
            grant_type,
            value,
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let request = self
            .http
            .post(&self.token_url)
            .timeout(self.timeout)
            .form(&form);
        let metrics = Arc::clone(&self.metrics);
        #[cfg(test)]
        let panic_now = self.panic_in_next_request.swap(false, Ordering::AcqRel);
        let task = tokio::spawn(
            async move {
                #[cfg(test)]
                if panic_now {
                    panic!("injected panic in a token request");
                }
                request_token(request, &metrics).await
            }
            .instrument(tracing::Span::current()),
        );
        task.await.unwrap_or_else(|join| {
            tracing::error!(error = %join, "the token request task failed");
            Exchange::Panicked(Error::local(ErrorKind::Unreachable(
                "the token request failed unexpectedly".into(),
            )))
        })
    }
}

async fn request_token(request: reqwest::RequestBuilder, metrics: &Metrics) -> Exchange {
    let started = Instant::now();
    let record = |outcome: &str| metrics.upstream_call("token", outcome, started.elapsed());
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            let error = super::client::transport_error(&e);
            record(super::client::error_label(&error));
            return Exchange::Failed(error);
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match super::client::read_limited(response).await {
        Ok(body) => body,
        Err(e) => {
            record(super::client::error_label(&e));
            return Exchange::Failed(e);
        }
    };
    record(&status.to_string());
    let rate_limits = RateLimits::from_headers(&headers);
    if (200..300).contains(&status) {
        return match wire::parse_token_response(&body) {
            Some(response) => Exchange::Answered(response),
            None => Exchange::Failed(Error {
                kind: ErrorKind::InvalidResponse {
                    detail: "Imgur's token endpoint answered a body without an access token".into(),
                },
                upstream_status: Some(status),
                rate_limits,
            }),
        };
    }
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(wire::parse_retry_after);
    let refusal =
        wire::classify_token_error(status, content_type, &body, retry_after, &rate_limits);
    Exchange::Refused(refusal, Some(status), rate_limits)
}

/// Waits until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn lifetime(response: &wire::TokenResponse) -> Duration {
    response
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME)
        .min(MAX_LIFETIME)
}

/// Puts the answer's access token and account into `tokens`.
fn apply_access_token(
    tokens: &mut StoredTokens,
    response: wire::TokenResponse,
    lifetime: Duration,
) -> AccessToken {
    let token = AccessToken {
        value: Secret::new(response.access_token),
        expires_at: SystemTime::now() + lifetime,
    };
    tokens.access_token = Some(token.value.clone());
    tokens.access_token_expires_at = Some(token.expires_at);
    tokens.account_username = response.account_username.or(tokens.account_username.take());
    tokens.account_id = response.account_id.or(tokens.account_id.take());
    token
}

/// Logs out in the store alone (`pixgate logout`): under the lock, removes
/// the Imgur part of the record (the record itself when nothing else is in
/// it), so a refresh in a running gateway cannot write it back afterwards.
pub fn logout_stored(store: &dyn TokenStore) -> Result<(), StoreError> {
    let lock = store.lock()?;
    match store.load()? {
        Some(stored) if stored.flickr.is_some() => {
            store.save(&lock, &stored.without_imgur()).map(drop)
        }
        _ => store.remove(&lock),
    }
}

/// Stores Flickr's tokens in the store alone (`pixgate login --provider
/// flickr`, the demo's seed): under the lock, beside whatever Imgur part the
/// record holds; a running gateway's owner sees the change through its watch.
pub fn save_flickr_stored(store: &dyn TokenStore, flickr: FlickrTokens) -> Result<(), StoreError> {
    let lock = store.lock()?;
    let mut stored = store.load()?.unwrap_or_default();
    stored.flickr = Some(flickr);
    store.save(&lock, &stored).map(drop)
}

fn client_credentials_error(message: &str, status: Option<u16>, rate_limits: RateLimits) -> Error {
    Error {
        kind: ErrorKind::ClientCredentialsRejected {
            message: format!(
                "Imgur's token endpoint rejected the app's credentials (Imgur: {message}). Check IMGUR_CLIENT_ID and IMGUR_CLIENT_SECRET: they must be the client id and secret of the app the refresh token was issued to. The stored refresh token is kept."
            ),
        },
        upstream_status: status,
        rate_limits,
    }
}

/// A store failure as the clients see it: 503 `store-unavailable` while
/// the shared store is down, else a local failure.
fn store_error(error: &StoreError) -> Error {
    match error {
        StoreError::Unavailable { .. } => {
            Error::local(ErrorKind::StoreUnavailable(error.to_string()))
        }
        _ => Error::local(ErrorKind::Storage(error.to_string())),
    }
}

fn authorization_required(detail: &str) -> Error {
    Error::local(ErrorKind::AuthorizationRequired(detail.to_owned()))
}

/// Runs a store operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Error> {
    let outcome = tokio::task::spawn_blocking(op).await.unwrap_or_else(|e| {
        Err(StoreError::Write {
            path: Default::default(),
            source: std::io::Error::other(e.to_string()),
        })
    });
    outcome.map_err(|e| {
        tracing::error!(error = %e, "token store operation failed");
        store_error(&e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
    use crate::imgur::FileStore;

    /// The app's settings for `fake`, seeded with its current refresh token.
    fn config_against(fake: &FakeImgur) -> ImgurConfig {
        ImgurConfig {
            client_id: fake.config().client_id.clone(),
            client_secret: Some(Secret::new(fake.config().client_secret.clone())),
            refresh_token: Some(Secret::new(fake.current_refresh_token())),
            api_url: fake.base_url(),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            rapidapi: None,
            credit_reserve: Default::default(),
        }
    }

    async fn owner_against(fake: &FakeImgur, dir: &std::path::Path) -> TokenOwner {
        let config = config_against(fake);
        TokenOwner::open(
            &config,
            Arc::new(FileStore::new(dir.join("tokens.json"))),
            reqwest::Client::new(),
            Arc::new(Metrics::new()),
        )
        .expect("opens")
    }

    /// Problem 7 of issue 11: a flight whose task panicked used to stay in
    /// its slot, and every later call got its error until a restart.
    #[tokio::test]
    async fn problem_7_a_panicking_token_request_is_cleared_and_the_next_caller_refreshes() {
        let fake = FakeImgur::start(FakeConfig::default()).await.expect("fake");
        let dir = tempfile::tempdir().expect("temp dir");
        let owner = owner_against(&fake, dir.path()).await;

        owner.panic_in_next_request.store(true, Ordering::SeqCst);
        let first = owner.access_token().await;
        let second = owner.access_token().await;

        assert!(first.is_err(), "the panicking flight answers an error");
        let token = second.expect("the next caller starts a new flight");
        assert_eq!(
            fake.calls(Endpoint::Token),
            1,
            "only the second flight reached Imgur"
        );
        assert!(fake
            .issued_access_tokens()
            .contains(&token.value.expose().to_owned()));
    }

    #[tokio::test]
    async fn flickr_tokens_survive_every_imgur_write_and_a_logout() {
        let fake = FakeImgur::start(FakeConfig::default()).await.expect("fake");
        let dir = tempfile::tempdir().expect("temp dir");
        let owner = owner_against(&fake, dir.path()).await;
        let flickr = FlickrTokens {
            token: Secret::new("flickr-token"),
            token_secret: Secret::new("flickr-secret"),
            username: Some("someone".into()),
            user_nsid: Some("1@N01".into()),
            perms: Some("write".into()),
        };

        owner.save_flickr(flickr.clone()).await.expect("saved");
        owner.access_token().await.expect("an Imgur refresh");
        owner
            .authorize(Grant::RefreshToken(Secret::new(
                fake.current_refresh_token(),
            )))
            .await
            .expect("an Imgur login");
        owner.logout().await.expect("an Imgur logout");

        let store = FileStore::new(dir.path().join("tokens.json"));
        let stored = store.load().expect("loads").expect("kept for Flickr");
        assert_eq!(stored.flickr, Some(flickr.clone()));
        assert_eq!(stored.refresh_token, None, "Imgur's part is gone");
        assert_eq!(owner.flickr_tokens(), Some(flickr));
        assert!(!format!("{:?}", owner.flickr_tokens()).contains("flickr-secret"));
        owner.remove_flickr().await.expect("removed");
        assert_eq!(store.load().expect("loads"), None, "nothing left to keep");
        assert_eq!(owner.flickr_tokens(), None);
    }

    /// The file store, with writes that fail while `failing` is set.
    struct FlakyStore {
        file: FileStore,
        failing: std::sync::atomic::AtomicBool,
    }

    impl TokenStore for FlakyStore {
        fn location(&self) -> String {
            self.file.location()
        }
        fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
            self.file.load()
        }
        fn lock(&self) -> Result<StoreLock, StoreError> {
            self.file.lock()
        }
        fn save(&self, lock: &StoreLock, tokens: &StoredTokens) -> Result<u64, StoreError> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::Write {
                    path: self.file.path().to_owned(),
                    source: std::io::Error::other("injected: disk full"),
                });
            }
            self.file.save(lock, tokens)
        }
        fn remove(&self, lock: &StoreLock) -> Result<(), StoreError> {
            self.file.remove(lock)
        }
        fn ensure_writable(&self) -> Result<(), StoreError> {
            self.file.ensure_writable()
        }
        fn watch(&self, changed: Box<dyn Fn() + Send + Sync>) -> Option<StoreWatch> {
            self.file.watch(changed)
        }
    }

    /// Problem 1 of issue 11: the old background re-write put an older
    /// snapshot back over whatever was stored meanwhile (another terminal's
    /// login, a newer refresh). Now the retry re-reads the store under the
    /// lock and a different authorization stored there wins.
    #[tokio::test(flavor = "multi_thread")]
    async fn problem_1_a_retried_write_never_puts_an_older_record_over_a_login_stored_meanwhile() {
        let fake = FakeImgur::start(FakeConfig::default()).await.expect("fake");
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(FlakyStore {
            file: FileStore::new(dir.path().join("tokens.json")),
            failing: false.into(),
        });
        let config = config_against(&fake);
        let owner = TokenOwner::open(
            &config,
            Arc::clone(&store) as Arc<dyn TokenStore>,
            reqwest::Client::new(),
            Arc::new(Metrics::new()),
        )
        .expect("opens");
        store.failing.store(true, Ordering::SeqCst);
        owner
            .access_token()
            .await
            .expect("refreshed, kept in memory");

        // Another terminal logs in while the write keeps failing for us.
        let login = StoredTokens {
            refresh_token: Some(Secret::new("another-login")),
            access_token: Some(Secret::new("another-access")),
            access_token_expires_at: Some(SystemTime::now() + Duration::from_secs(3600)),
            account_username: Some("other".into()),
            ..store.file.load().expect("loads").expect("seeded")
        };
        let lock = store.file.lock().expect("locked");
        store
            .file
            .save(&lock, &login)
            .expect("the other terminal's write");
        drop(lock);
        store.failing.store(false, Ordering::SeqCst);

        let deadline = Instant::now() + Duration::from_secs(10);
        while owner
            .access_token()
            .await
            .map(|t| t.value.expose().to_owned())
            .ok()
            .as_deref()
            != Some("another-access")
        {
            assert!(
                Instant::now() < deadline,
                "the login stored elsewhere is used"
            );
            tokio::time::sleep(Duration::from_millis(50)).await; // polling an effect, bounded
        }
        // Past the retries' first pauses: nothing older comes back.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let stored = store.file.load().expect("loads").expect("a record");
        assert_eq!(stored.refresh_token, Some(Secret::new("another-login")));
    }
}
