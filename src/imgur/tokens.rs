//! The token manager: turns the stored refresh token into access tokens,
//! refreshes them before they expire or when Imgur rejects one, stores every
//! rotated refresh token durably before it is used, and takes in new
//! authorizations (code, PIN, an existing refresh token) and logouts.
//!
//! Concurrency: the current tokens sit behind a `std::sync::Mutex` that is
//! never held across an `.await`, so the common case (a valid token) costs
//! one uncontended lock. A refresh is one shared task (a "flight"): every
//! caller that needs a refresh while one runs awaits the same one, and all
//! of them wake together when it ends, so any number of concurrent callers
//! cause one token request (single flight). Refreshes, logins and logouts
//! are also serialized by a `tokio::sync::Mutex` held across the token
//! request. Token requests run in spawned tasks, so a client that
//! disconnects midway cannot cancel them halfway: Imgur may already have
//! rotated the refresh token, and the new one must reach the file.
//!
//! Another process (`pixgate login` or `logout` in a terminal) may replace
//! the token file: every access compares the file's stamp (inode, mtime,
//! size; one `stat`) with the last one seen and reloads it when it changed.

use super::error::{Error, ErrorKind, RateLimits};
use super::token_store::{fingerprint, FileStamp, StoreError, StoreLock, StoredTokens, TokenStore};
use super::wire;
use crate::config::ImgurConfig;
use crate::metrics::Metrics;
use crate::secret::Secret;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::Instrument;

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

/// Holds the tokens; cheap to clone (shared state).
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Option<Secret>,
    timeout: Duration,
    store: TokenStore,
    /// Fingerprint of `IMGUR_REFRESH_TOKEN`, recorded in every file written,
    /// so a restart with the same environment keeps a newer login.
    seed_fingerprint: Option<String>,
    metrics: Arc<Metrics>,
    /// Whether a task is retrying a failed write.
    retrying_save: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// The refresh in progress, if any.
    flight: Mutex<Option<Flight>>,
}

/// A refresh that any number of callers await; cloning it is cheap.
type Flight = Shared<BoxFuture<'static, Result<AccessToken, Error>>>;

#[derive(Default)]
struct State {
    tokens: StoredTokens,
    /// When to refresh proactively; `None` for a token loaded from the file
    /// (its lifetime is unknown): then [`EXPIRY_MARGIN`] before expiry.
    refresh_at: Option<SystemTime>,
    rejected: Option<Rejection>,
    /// The token file version these tokens match.
    stamp: Option<FileStamp>,
    /// The tokens could not be written; a background task keeps trying.
    unsaved: bool,
}

struct Rejection {
    until: Instant,
    backoff: Duration,
}

impl TokenManager {
    /// Loads the token file and reconciles it with `IMGUR_REFRESH_TOKEN`:
    /// the file wins unless the environment value differs from the one the
    /// file was seeded from (the user re-authorized). A new seed is written
    /// at once, which also proves the file is writable before serving.
    pub fn open(
        config: &ImgurConfig,
        store: TokenStore,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let seed_fingerprint = config.refresh_token.as_ref().map(fingerprint);
        let stored = store.load()?;
        let tokens = match (&config.refresh_token, stored) {
            (Some(_), Some(stored)) if stored.seed_fingerprint == seed_fingerprint => stored,
            (Some(seed), _) => {
                let seeded = StoredTokens {
                    refresh_token: Some(seed.clone()),
                    seed_fingerprint: seed_fingerprint.clone(),
                    ..StoredTokens::default()
                };
                store.save(&seeded)?;
                tracing::info!(path = %store.path().display(), "seeded the token file from IMGUR_REFRESH_TOKEN");
                seeded
            }
            (None, Some(stored)) => stored,
            (None, None) => StoredTokens::default(),
        };
        if tokens.refresh_token.is_some() {
            store.ensure_writable()?;
        }
        let stamp = store.stamp();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                token_url: format!("{}/oauth2/token", config.api_url),
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                timeout: config.timeout,
                store,
                seed_fingerprint,
                metrics,
                retrying_save: Default::default(),
                state: Mutex::new(State {
                    tokens,
                    stamp,
                    ..State::default()
                }),
                refresh_lock: tokio::sync::Mutex::new(()),
                flight: Mutex::new(None),
            }),
        })
    }

    /// The account of the current tokens (known after the first refresh).
    pub fn account(&self) -> Account {
        let state = self.inner.lock();
        Account {
            username: state.tokens.account_username.clone(),
            id: state.tokens.account_id,
        }
    }

    /// The authorization state, without any token.
    pub fn status(&self) -> AuthStatus {
        AuthStatus::of(&self.inner.lock().tokens)
    }

    /// Where the tokens are stored.
    pub fn token_file(&self) -> &std::path::Path {
        self.inner.store.path()
    }

    /// The user's account, for keying cached pages. Known from the token
    /// file or learned by the first refresh; a rejected or missing
    /// authorization is an error even when a cached page exists.
    pub async fn user_account(&self) -> Result<Account, Error> {
        let (current, account) = {
            let state = self.inner.lock();
            let account = Account {
                username: state.tokens.account_username.clone(),
                id: state.tokens.account_id,
            };
            (Inner::classify(&state, SystemTime::now()), account)
        };
        let needs_refresh = current.into_result()?.is_none();
        if needs_refresh && account.username.is_none() {
            self.access_token().await?;
            return Ok(self.account());
        }
        Ok(account)
    }

    /// In user mode a valid access token (refreshed if needed); `None` in
    /// anonymous mode. One read of the state where `mode()` and
    /// `access_token()` would take two.
    pub async fn access_token_if_user(&self) -> Result<Option<AccessToken>, Error> {
        let current = Inner::classify(&self.inner.lock(), SystemTime::now());
        match current {
            Current::Anonymous => Ok(None),
            Current::NeedsRefresh => self.refresh(None).await.map(Some),
            other => other.into_result(),
        }
    }

    /// A valid access token, refreshing first when none is held or it
    /// expires within a minute.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.inner.current(SystemTime::now())? {
            return Ok(token);
        }
        self.refresh(None).await
    }

    /// Imgur rejected `rejected`: refresh, unless another caller already
    /// replaced it, and return the token to replay with.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &AccessToken,
    ) -> Result<AccessToken, Error> {
        self.refresh(Some(rejected.clone())).await
    }

    /// Exchanges `grant` for tokens, stores them and makes them current at
    /// once: the next request uses the new account. A refresh-token grant is
    /// how an existing token is checked (one refresh) before it is kept.
    pub async fn authorize(&self, grant: Grant) -> Result<Account, Error> {
        let inner = Arc::clone(&self.inner);
        run_to_completion(async move {
            let _single_flight = inner.refresh_lock.lock().await;
            let _other_processes = inner.lock_file().await?;
            let kind = grant.describe();
            let response = match inner.request_token(&grant).await {
                Ok(response) => response,
                Err(TokenRequestError::Rejected) => {
                    return Err(Error::local(ErrorKind::Rejected {
                        message: format!(
                            "Imgur rejected the {kind}; it may be wrong, used already, or expired"
                        ),
                    }))
                }
                Err(TokenRequestError::Failed(e)) => return Err(e),
            };
            let fallback = match grant {
                Grant::RefreshToken(token) => Some(token),
                _ => None,
            };
            inner.install(response, fallback).await?;
            tracing::info!(grant = kind, "authorized a new Imgur account");
            let state = inner.lock();
            Ok(Account {
                username: state.tokens.account_username.clone(),
                id: state.tokens.account_id,
            })
        })
        .await
    }

    /// Forgets every token: deletes the file and switches to anonymous mode.
    pub async fn logout(&self) -> Result<(), Error> {
        let inner = Arc::clone(&self.inner);
        run_to_completion(async move {
            let _single_flight = inner.refresh_lock.lock().await;
            let _other_processes = inner.lock_file().await?;
            let store = inner.store.clone();
            blocking(move || store.remove()).await?;
            let mut state = inner.lock();
            *state = State::default();
            tracing::info!("logged out: the stored tokens were deleted");
            Ok(())
        })
        .await
    }

    async fn refresh(&self, rejected: Option<AccessToken>) -> Result<AccessToken, Error> {
        // A rejected token another caller already replaced needs no refresh.
        if let Some(token) = self.inner.replaced(rejected.as_ref())? {
            return Ok(token);
        }
        let token = self.join_flight(rejected.clone()).await?;
        if rejected.as_ref() != Some(&token) {
            return Ok(token);
        }
        // The flight this caller joined brought back the very token Imgur
        // rejected (it ended as the rejection came in): one more refresh.
        self.join_flight(rejected).await
    }

    /// Awaits the refresh in progress, or starts one.
    fn join_flight(&self, rejected: Option<AccessToken>) -> Flight {
        let mut flight = lock(&self.inner.flight);
        if let Some(flight) = &*flight {
            return flight.clone();
        }
        let inner = Arc::clone(&self.inner);
        // Stored before the task can end (the task clears it under the same
        // lock), so a finished flight is never left behind.
        let started = run_to_completion(async move {
            let refreshed = inner.refresh_once(rejected).await;
            *lock(&inner.flight) = None;
            refreshed
        })
        .boxed()
        .shared();
        *flight = Some(started.clone());
        started
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `work` in its own task now, so that dropping the caller (a
/// client that disconnected) cannot stop it halfway; await the result.
fn run_to_completion<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, Error>> + Send + 'static,
) -> impl std::future::Future<Output = Result<T, Error>> + Send + 'static {
    // The task keeps the caller's span, so its log lines carry the request id.
    let task = tokio::spawn(work.instrument(tracing::Span::current()));
    async move {
        task.await.unwrap_or_else(|join| {
            tracing::error!(error = %join, "token task failed");
            Err(Error::local(ErrorKind::Unreachable(
                "the token request failed unexpectedly".into(),
            )))
        })
    }
}

/// Runs a token-file operation on the blocking pool.
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
        tracing::error!(error = %e, "token file operation failed");
        Error::local(ErrorKind::Storage(e.to_string()))
    })
}

impl Inner {
    /// One refresh, unless the state or the token file (another process)
    /// already holds a usable token other than `rejected`.
    async fn refresh_once(
        self: &Arc<Self>,
        rejected: Option<AccessToken>,
    ) -> Result<AccessToken, Error> {
        let _single_flight = self.refresh_lock.lock().await;
        // Re-check: a login may have just finished (then no file lock is
        // needed)...
        if let Some(token) = self.replaced(rejected.as_ref())? {
            return Ok(token);
        }
        // ...or another process refreshed, through the token file, re-read here.
        let _other_processes = self.lock_file().await?;
        if let Some(token) = self.replaced(rejected.as_ref())? {
            return Ok(token);
        }
        let refreshed = self.refresh_locked().await;
        if self.lock().unsaved {
            Inner::keep_saving(self);
        }
        refreshed
    }

    /// Waits for the other processes sharing the token file to finish
    /// their refresh (Imgur rotates refresh tokens: two processes
    /// refreshing with the same one would lock each other out).
    async fn lock_file(&self) -> Result<StoreLock, Error> {
        let store = self.store.clone();
        blocking(move || store.lock()).await
    }

    /// The state, first reloaded from the token file if another process
    /// replaced or deleted it.
    fn lock(&self) -> MutexGuard<'_, State> {
        let stamp = self.store.stamp();
        let mut state = lock(&self.state);
        if stamp != state.stamp {
            match self.store.load() {
                Ok(loaded) => {
                    tracing::info!(path = %self.store.path().display(), "the token file changed; using its tokens");
                    *state = State {
                        tokens: loaded.unwrap_or_default(),
                        stamp,
                        ..State::default()
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the token file changed but cannot be read; keeping the current tokens");
                    state.stamp = stamp;
                }
            }
        }
        state
    }

    /// The current token if usable; `Ok(None)` when a refresh is needed;
    /// an error when there is no user authorization or it was rejected recently.
    fn current(&self, now: SystemTime) -> Result<Option<AccessToken>, Error> {
        Self::classify(&self.lock(), now).into_result()
    }

    /// The current token if it is usable and not `rejected`.
    fn replaced(&self, rejected: Option<&AccessToken>) -> Result<Option<AccessToken>, Error> {
        Ok(self
            .current(SystemTime::now())?
            .filter(|token| rejected != Some(token)))
    }

    /// What the tokens allow right now (one read of the state, so one
    /// `stat` of the token file per call).
    fn classify(state: &State, now: SystemTime) -> Current {
        if state.tokens.refresh_token.is_none() {
            return Current::Anonymous;
        }
        if let (Some(value), Some(expires_at)) = (
            &state.tokens.access_token,
            state.tokens.access_token_expires_at,
        ) {
            let refresh_at = state
                .refresh_at
                .unwrap_or_else(|| expires_at.checked_sub(EXPIRY_MARGIN).unwrap_or(UNIX_EPOCH));
            if now < refresh_at {
                return Current::Usable(AccessToken {
                    value: value.clone(),
                    expires_at,
                });
            }
        }
        match &state.rejected {
            Some(rejection) if Instant::now() < rejection.until => Current::Rejected,
            _ => Current::NeedsRefresh,
        }
    }

    /// Runs the token request with the current refresh token, then with the
    /// previous one if Imgur rejects the current one. Holds `refresh_lock`.
    async fn refresh_locked(&self) -> Result<AccessToken, Error> {
        let (current, previous) = {
            let state = self.lock();
            (
                state.tokens.refresh_token.clone(),
                state.tokens.previous_refresh_token.clone(),
            )
        };
        let Some(current) = current else {
            return Err(authorization_required(NOT_AUTHORIZED));
        };
        let mut candidates = vec![current];
        candidates.extend(previous.filter(|p| p != &candidates[0]));
        for refresh_token in candidates {
            match self
                .request_token(&Grant::RefreshToken(refresh_token.clone()))
                .await
            {
                Ok(response) => {
                    self.metrics.token_refresh("ok");
                    return Ok(self.adopt(response, refresh_token).await);
                }
                Err(TokenRequestError::Rejected) => {
                    self.metrics.token_refresh("rejected");
                    tracing::warn!("Imgur rejected a refresh token");
                }
                Err(TokenRequestError::Failed(e)) => {
                    self.metrics.token_refresh("failed");
                    tracing::warn!(error = %e, "token refresh failed");
                    return Err(e);
                }
            }
        }
        let mut state = self.lock();
        let backoff = state
            .rejected
            .as_ref()
            .map(|r| (r.backoff * 2).min(MAX_REJECTION_BACKOFF))
            .unwrap_or(REJECTION_BACKOFF);
        state.rejected = Some(Rejection {
            until: Instant::now() + backoff,
            backoff,
        });
        state.tokens.access_token = None;
        tracing::error!(
            retry_in_secs = backoff.as_secs(),
            "Imgur rejected every stored refresh token; user endpoints answer 403 until it is re-authorized"
        );
        Err(authorization_required(REFRESH_REJECTED))
    }

    async fn request_token(&self, grant: &Grant) -> Result<wire::TokenResponse, TokenRequestError> {
        let secret = self
            .client_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or("");
        let [grant_type, value] = grant.fields();
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", secret),
            grant_type,
            value,
        ];
        let started = Instant::now();
        let record = |outcome: &str| {
            self.metrics
                .upstream_call("token", outcome, started.elapsed())
        };
        let response = self
            .http
            .post(&self.token_url)
            .timeout(self.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                let error = super::client::transport_error(&e);
                record(super::client::error_label(&error));
                TokenRequestError::Failed(error)
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = super::client::read_limited(response).await.map_err(|e| {
            record(super::client::error_label(&e));
            TokenRequestError::Failed(e)
        })?;
        record(&status.to_string());
        if (200..300).contains(&status) {
            return wire::parse_token_response(&body).ok_or_else(|| {
                TokenRequestError::Failed(Error {
                    kind: ErrorKind::InvalidResponse {
                        detail: "Imgur's token endpoint answered a body without an access token"
                            .into(),
                    },
                    upstream_status: Some(status),
                    rate_limits: RateLimits::default(),
                })
            });
        }
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let kind = wire::classify_error(status, content_type, &body, None, &RateLimits::default());
        match kind {
            ErrorKind::OverCapacity { .. } | ErrorKind::RateLimited { .. } => {}
            _ if matches!(status, 400 | 401 | 403) => return Err(TokenRequestError::Rejected),
            _ => {}
        }
        Err(TokenRequestError::Failed(Error {
            kind,
            upstream_status: Some(status),
            rate_limits: RateLimits::default(),
        }))
    }

    /// Keeps a refresh's answer: the rotated refresh token goes to disk
    /// first, then the new access token becomes current. A failed write is
    /// logged and the tokens are kept in memory; the next refresh writes again.
    async fn adopt(&self, response: wire::TokenResponse, used: Secret) -> AccessToken {
        let (mut next, lifetime) = {
            let state = self.lock();
            (state.tokens.clone(), lifetime(&response))
        };
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
        let saved = self.save(&next).await;
        if saved.is_err() {
            tracing::error!(
                "could not store the refreshed tokens; keeping them in memory and retrying"
            );
        }
        tracing::info!(
            account = next.account_username.as_deref().unwrap_or("?"),
            expires_in_secs = lifetime.as_secs(),
            "refreshed the Imgur access token"
        );
        self.set_current(next, &token, lifetime, saved.is_err());
        token
    }

    /// Keeps a new authorization's answer, replacing every earlier token.
    /// Unlike a refresh, a failed write is an error: the user must know the
    /// login did not stick.
    async fn install(
        &self,
        response: wire::TokenResponse,
        fallback_refresh: Option<Secret>,
    ) -> Result<(), Error> {
        let lifetime = lifetime(&response);
        let mut next = StoredTokens {
            refresh_token: response
                .refresh_token
                .clone()
                .filter(|r| !r.is_empty())
                .map(Secret::new)
                .or(fallback_refresh),
            seed_fingerprint: self.seed_fingerprint.clone(),
            ..StoredTokens::default()
        };
        if next.refresh_token.is_none() {
            return Err(Error::local(ErrorKind::InvalidResponse {
                detail: "Imgur's token answer has no refresh token".into(),
            }));
        }
        let token = apply_access_token(&mut next, response, lifetime);
        self.save(&next).await?;
        self.set_current(next, &token, lifetime, false);
        Ok(())
    }

    /// Retries writing tokens that could not be stored (the old file is
    /// intact meanwhile: writes are atomic), with a growing pause, until a
    /// write succeeds or newer tokens were stored.
    fn keep_saving(inner: &Arc<Inner>) {
        use std::sync::atomic::Ordering;
        if inner.retrying_save.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(inner);
        tokio::spawn(async move {
            let mut pause = Duration::from_secs(1);
            loop {
                tokio::time::sleep(pause).await;
                let tokens = {
                    let state = inner.lock();
                    if !state.unsaved {
                        break;
                    }
                    state.tokens.clone()
                };
                if inner.save(&tokens).await.is_ok() {
                    let stamp = inner.store.stamp();
                    let mut state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
                    if state.tokens == tokens {
                        state.unsaved = false;
                        state.stamp = stamp;
                    }
                    tracing::info!("stored the refreshed tokens after an earlier failure");
                    break;
                }
                pause = (pause * 2).min(Duration::from_secs(60));
            }
            inner.retrying_save.store(false, Ordering::Release);
        });
    }

    async fn save(&self, tokens: &StoredTokens) -> Result<(), Error> {
        let store = self.store.clone();
        let tokens = tokens.clone();
        blocking(move || store.save(&tokens)).await
    }

    fn set_current(
        &self,
        tokens: StoredTokens,
        token: &AccessToken,
        lifetime: Duration,
        unsaved: bool,
    ) {
        let stamp = self.store.stamp();
        let mut state = lock(&self.state);
        *state = State {
            tokens,
            refresh_at: token
                .expires_at
                .checked_sub(EXPIRY_MARGIN.min(lifetime / 2)),
            rejected: None,
            stamp,
            unsaved,
        };
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

/// What the current tokens allow.
enum Current {
    Usable(AccessToken),
    NeedsRefresh,
    /// No refresh token: anonymous mode.
    Anonymous,
    /// Imgur rejected the refresh token recently (backing off).
    Rejected,
}

impl Current {
    /// The token, `None` when a refresh is needed, or the reason there is none.
    fn into_result(self) -> Result<Option<AccessToken>, Error> {
        match self {
            Current::Usable(token) => Ok(Some(token)),
            Current::NeedsRefresh => Ok(None),
            Current::Anonymous => Err(authorization_required(NOT_AUTHORIZED)),
            Current::Rejected => Err(authorization_required(REFRESH_REJECTED)),
        }
    }
}

enum TokenRequestError {
    /// Imgur refused the grant (400/401/403).
    Rejected,
    Failed(Error),
}

fn authorization_required(detail: &str) -> Error {
    Error::local(ErrorKind::AuthorizationRequired(detail.to_owned()))
}
