//! The token manager: turns the stored refresh token into access tokens,
//! refreshes them before they expire or when Imgur rejects one, and stores
//! every rotated refresh token durably before it is used.
//!
//! Concurrency: the current tokens sit behind a `std::sync::Mutex` that is
//! never held across an `.await`, so the common case (a valid token) costs
//! one uncontended lock. Refreshes are serialized by a `tokio::sync::Mutex`
//! that *is* held across the token request: whoever waits on it re-checks
//! the state afterwards and finds the new token, so any number of concurrent
//! callers cause one token request (single flight). The refresh itself runs
//! in a spawned task, so a client that disconnects mid-refresh cannot cancel
//! it halfway: Imgur may already have rotated the refresh token, and the new
//! one must reach the file.

use super::error::{Error, ErrorKind, RateLimits};
use super::token_store::{fingerprint, StoreError, StoredTokens, TokenStore};
use super::wire;
use crate::config::ImgurConfig;
use crate::secret::Secret;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Refresh this long before the access token expires (or at half its
/// lifetime, for tokens that live less than two margins).
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime assumed when Imgur's answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// First wait after Imgur rejects the refresh token; doubles up to the max.
const REJECTION_BACKOFF: Duration = Duration::from_secs(30);
const MAX_REJECTION_BACKOFF: Duration = Duration::from_secs(15 * 60);

const NOT_AUTHORIZED: &str = "pixgate has no Imgur user authorization. Set IMGUR_CLIENT_SECRET and IMGUR_REFRESH_TOKEN (see README, \"Authorize your Imgur account\") and restart pixgate.";
const REFRESH_REJECTED: &str = "Imgur rejected the stored refresh token (revoked, or replaced by another login). Authorize again, set IMGUR_REFRESH_TOKEN to the new refresh token and restart pixgate.";

/// Whether the gateway acts as a user or only as the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A refresh token is configured: calls carry `Bearer` tokens.
    User,
    /// No refresh token: calls carry `Client-ID`; only anonymous uploads,
    /// reads and deletes by deletehash work.
    Anonymous,
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
    state: Mutex<State>,
    refresh_lock: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    tokens: StoredTokens,
    /// When to refresh proactively; `None` for a token loaded from the file
    /// (its lifetime is unknown): then [`EXPIRY_MARGIN`] before expiry.
    refresh_at: Option<SystemTime>,
    rejected: Option<Rejection>,
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
    ) -> Result<Self, StoreError> {
        let stored = store.load()?;
        let tokens = match (&config.refresh_token, stored) {
            (Some(seed), Some(stored))
                if stored.seed_fingerprint.as_deref() == Some(&fingerprint(seed)) =>
            {
                stored
            }
            (Some(seed), _) => {
                let seeded = StoredTokens {
                    refresh_token: Some(seed.clone()),
                    seed_fingerprint: Some(fingerprint(seed)),
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
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                token_url: format!("{}/oauth2/token", config.api_url),
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                timeout: config.timeout,
                store,
                state: Mutex::new(State {
                    tokens,
                    ..State::default()
                }),
                refresh_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// User mode when a refresh token is held, else anonymous.
    pub fn mode(&self) -> Mode {
        if self.inner.lock().tokens.refresh_token.is_some() {
            Mode::User
        } else {
            Mode::Anonymous
        }
    }

    /// The account of the current tokens (known after the first refresh).
    pub fn account(&self) -> Account {
        let state = self.inner.lock();
        Account {
            username: state.tokens.account_username.clone(),
            id: state.tokens.account_id,
        }
    }

    /// The user's account, for keying cached pages. Known from the token
    /// file or learned by the first refresh; a rejected or missing
    /// authorization is an error even when a cached page exists.
    pub async fn user_account(&self) -> Result<Account, Error> {
        let needs_refresh = self.inner.current(SystemTime::now())?.is_none();
        if needs_refresh && self.account().username.is_none() {
            self.access_token().await?;
        }
        Ok(self.account())
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

    async fn refresh(&self, rejected: Option<AccessToken>) -> Result<AccessToken, Error> {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let _single_flight = inner.refresh_lock.lock().await;
            // Re-check: the caller before us may have refreshed already.
            if let Some(token) = inner.current(SystemTime::now())? {
                if rejected.as_ref() != Some(&token) {
                    return Ok(token);
                }
            }
            inner.refresh_locked().await
        })
        .await
        .unwrap_or_else(|join| {
            tracing::error!(error = %join, "token refresh task failed");
            Err(Error::local(ErrorKind::Unreachable(
                "the token refresh failed unexpectedly".into(),
            )))
        })
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current token if usable; `Ok(None)` when a refresh is needed;
    /// an error when there is no user authorization or it was rejected recently.
    fn current(&self, now: SystemTime) -> Result<Option<AccessToken>, Error> {
        let state = self.lock();
        if state.tokens.refresh_token.is_none() {
            return Err(authorization_required(NOT_AUTHORIZED));
        }
        if let (Some(value), Some(expires_at)) = (
            &state.tokens.access_token,
            state.tokens.access_token_expires_at,
        ) {
            let refresh_at = state
                .refresh_at
                .unwrap_or_else(|| expires_at.checked_sub(EXPIRY_MARGIN).unwrap_or(UNIX_EPOCH));
            if now < refresh_at {
                return Ok(Some(AccessToken {
                    value: value.clone(),
                    expires_at,
                }));
            }
        }
        match &state.rejected {
            Some(rejection) if Instant::now() < rejection.until => {
                Err(authorization_required(REFRESH_REJECTED))
            }
            _ => Ok(None),
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
            match self.request_token(&refresh_token).await {
                Ok(response) => return Ok(self.adopt(response, refresh_token).await),
                Err(TokenRequestError::Rejected) => {
                    tracing::warn!("Imgur rejected a refresh token");
                }
                Err(TokenRequestError::Failed(e)) => {
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
        tracing::error!(retry_in_secs = backoff.as_secs(), "Imgur rejected every stored refresh token; user endpoints answer 403 until it is re-authorized");
        Err(authorization_required(REFRESH_REJECTED))
    }

    async fn request_token(
        &self,
        refresh_token: &Secret,
    ) -> Result<wire::TokenResponse, TokenRequestError> {
        let secret = self
            .client_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or("");
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        let response = self
            .http
            .post(&self.token_url)
            .timeout(self.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenRequestError::Failed(super::client::transport_error(&e)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = super::client::read_limited(response)
            .await
            .map_err(TokenRequestError::Failed)?;
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

    /// Stores the answer (rotated refresh token first, on disk) and makes
    /// the new access token current.
    async fn adopt(&self, response: wire::TokenResponse, used: Secret) -> AccessToken {
        let lifetime = response
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        let token = AccessToken {
            value: Secret::new(response.access_token),
            expires_at: SystemTime::now() + lifetime,
        };
        let mut next = self.lock().tokens.clone();
        let rotated = response
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(Secret::new)
            .filter(|r| r != &used);
        if let Some(new_refresh) = rotated {
            next.previous_refresh_token = Some(used);
            next.refresh_token = Some(new_refresh);
        } else {
            next.refresh_token = Some(used);
        }
        next.access_token = Some(token.value.clone());
        next.access_token_expires_at = Some(token.expires_at);
        next.account_username = response.account_username.or(next.account_username);
        next.account_id = response.account_id.or(next.account_id);

        let store = self.store.clone();
        let to_save = next.clone();
        let saved = tokio::task::spawn_blocking(move || store.save(&to_save)).await;
        match saved {
            Ok(Ok(())) => {}
            // Keep serving with the new tokens in memory; the next refresh writes again.
            Ok(Err(e)) => tracing::error!(error = %e, "could not store the refreshed tokens"),
            Err(e) => tracing::error!(error = %e, "could not store the refreshed tokens"),
        }
        tracing::info!(
            account = next.account_username.as_deref().unwrap_or("?"),
            expires_in_secs = lifetime.as_secs(),
            "refreshed the Imgur access token"
        );
        let mut state = self.lock();
        state.tokens = next;
        state.refresh_at = token
            .expires_at
            .checked_sub(EXPIRY_MARGIN.min(lifetime / 2));
        state.rejected = None;
        token
    }
}

enum TokenRequestError {
    /// Imgur refused the refresh token (400/401/403).
    Rejected,
    Failed(Error),
}

fn authorization_required(detail: &str) -> Error {
    Error::local(ErrorKind::AuthorizationRequired(detail.to_owned()))
}
