//! Pending browser logins: the `state` values sent to Imgur's authorize
//! page and the request tokens sent to Flickr's. Each is used once and
//! expires after ten minutes, so a callback can only finish a login this
//! gateway (or, with Redis, this fleet) started.
//!
//! One process keeps them in memory. With a [`Fleet`] they live in Redis
//! (`{pixgate}:login:<provider>:<SHA-256 of the state or token>`, `SET PX`
//! and `GETDEL`), so a login started on one replica finishes on any other;
//! `GETDEL` is atomic, so two replicas cannot both accept one callback, and
//! no lock is needed. The key names a hash, never the state itself.

use crate::fleet::{Fleet, FleetError};
use crate::flickr::{RequestToken, Token};
use crate::model::ResponseType;
use moka::sync::Cache;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// How long a login may take from `/auth/login` to the callback.
const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Bounds memory if someone starts logins in a loop.
const MAX_PENDING_LOGINS: u64 = 10_000;

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
#[error("this login link is unknown, already used, or expired (older than 10 minutes); start again at /auth/login")]
pub struct UnknownState;

/// Why a Flickr callback was refused.
#[derive(Debug, thiserror::Error)]
#[error("this Flickr login link is unknown, already used, or expired (older than 10 minutes); start again at /flickr/auth/login")]
pub struct UnknownRequestToken;

/// A login could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum Refused<U> {
    #[error(transparent)]
    Unknown(U),
    /// Redis is unreachable (503 `store-unavailable`).
    #[error(transparent)]
    Store(FleetError),
}

/// What a pending login remembers, as text for Redis.
trait Remembered: Clone + Send + Sync + 'static {
    fn to_text(&self) -> String;
    fn from_text(text: &str) -> Option<Self>;
}

impl Remembered for ResponseType {
    fn to_text(&self) -> String {
        self.as_str().to_owned()
    }

    fn from_text(text: &str) -> Option<Self> {
        [Self::Token, Self::Code, Self::Pin]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

impl Remembered for RequestToken {
    /// The token and its secret (the secret stays in Redis, like the
    /// stored tokens; it is never logged).
    fn to_text(&self) -> String {
        serde_json::json!([self.0.token.expose(), self.0.secret.expose()]).to_string()
    }

    fn from_text(text: &str) -> Option<Self> {
        let [token, secret]: [String; 2] = serde_json::from_str(text).ok()?;
        Some(RequestToken(Token::new(token, secret)))
    }
}

/// Pending logins of one provider, in memory or in Redis.
struct Pending<V> {
    /// The TTL only frees memory: moka's `remove` still returns an expired
    /// entry, so `take` checks the age.
    local: Cache<String, (V, Instant)>,
    lifetime: Duration,
    shared: Option<Fleet>,
    provider: &'static str,
}

impl<V: Remembered> Pending<V> {
    fn new(provider: &'static str, lifetime: Duration) -> Self {
        Self {
            local: Cache::builder()
                .time_to_live(lifetime)
                .max_capacity(MAX_PENDING_LOGINS)
                .build(),
            lifetime,
            shared: None,
            provider,
        }
    }

    fn key(&self, fleet: &Fleet, name: &str) -> String {
        let digest: String = Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        fleet.key(&format!("login:{}:{digest}", self.provider))
    }

    async fn put(&self, name: String, value: V) -> Result<(), FleetError> {
        match &self.shared {
            Some(fleet) => {
                fleet
                    .query::<()>(
                        "login_begin",
                        redis::cmd("SET")
                            .arg(self.key(fleet, &name))
                            .arg(value.to_text())
                            .arg("PX")
                            .arg(self.lifetime.as_millis() as u64),
                    )
                    .await
            }
            None => {
                self.local.insert(name, (value, Instant::now()));
                Ok(())
            }
        }
    }

    /// The pending login `name`, consumed; `None` if unknown, used or expired.
    async fn take(&self, name: &str) -> Result<Option<V>, FleetError> {
        match &self.shared {
            Some(fleet) => {
                let text: Option<String> = fleet
                    .query(
                        "login_finish",
                        redis::cmd("GETDEL").arg(self.key(fleet, name)),
                    )
                    .await?;
                Ok(text.as_deref().and_then(V::from_text))
            }
            None => Ok(self
                .local
                .remove(name)
                .filter(|(_, started)| started.elapsed() < self.lifetime)
                .map(|(value, _)| value)),
        }
    }
}

/// The Imgur logins started and not yet finished.
pub struct PendingLogins(Pending<ResponseType>);

impl Default for PendingLogins {
    fn default() -> Self {
        Self::with_lifetime(LOGIN_LIFETIME)
    }
}

impl PendingLogins {
    fn with_lifetime(lifetime: Duration) -> Self {
        Self(Pending::new("imgur", lifetime))
    }

    /// Keeps them in Redis, shared by every replica.
    pub fn with_fleet(mut self, fleet: Fleet) -> Self {
        self.0.shared = Some(fleet);
        self
    }

    /// Starts a login answered with `response_type`; returns its state (256 random bits).
    pub async fn begin(&self, response_type: ResponseType) -> Result<String, FleetError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let state: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.0.put(state.clone(), response_type).await?;
        Ok(state)
    }

    /// Consumes `state`, which must belong to a pending login of `response_type`.
    pub async fn finish(
        &self,
        state: &str,
        response_type: ResponseType,
    ) -> Result<(), Refused<UnknownState>> {
        match self.0.take(state).await.map_err(Refused::Store)? {
            Some(expected) if expected == response_type => Ok(()),
            _ => Err(Refused::Unknown(UnknownState)),
        }
    }
}

/// Pending Flickr browser logins: the request tokens sent to Flickr's
/// authorize page, each with its secret (Flickr's request token plays the
/// state's part: the callback names it, and only this gateway holds its
/// secret).
pub struct PendingFlickrLogins(Pending<RequestToken>);

impl Default for PendingFlickrLogins {
    fn default() -> Self {
        Self(Pending::new("flickr", LOGIN_LIFETIME))
    }
}

impl PendingFlickrLogins {
    /// Keeps them in Redis, shared by every replica.
    pub fn with_fleet(mut self, fleet: Fleet) -> Self {
        self.0.shared = Some(fleet);
        self
    }

    /// Remembers a request token sent to the authorize page.
    pub async fn begin(&self, request_token: RequestToken) -> Result<(), FleetError> {
        let key = request_token.0.token.expose().to_owned();
        self.0.put(key, request_token).await
    }

    /// Consumes the pending login of `token` (the callback's `oauth_token`).
    pub async fn finish(&self, token: &str) -> Result<RequestToken, Refused<UnknownRequestToken>> {
        self.0
            .take(token)
            .await
            .map_err(Refused::Store)?
            .ok_or(Refused::Unknown(UnknownRequestToken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_state_finishes_once_and_only_its_own_flow() {
        let logins = PendingLogins::default();
        let state = logins.begin(ResponseType::Code).await.expect("begun");
        assert_eq!(state.len(), 64, "256 bits");
        assert!(
            logins.finish(&state, ResponseType::Token).await.is_err(),
            "wrong flow"
        );
        let state = logins.begin(ResponseType::Code).await.expect("begun");
        assert!(logins.finish(&state, ResponseType::Code).await.is_ok());
        assert!(
            logins.finish(&state, ResponseType::Code).await.is_err(),
            "reused"
        );
        assert!(logins.finish("made-up", ResponseType::Code).await.is_err());
    }

    #[tokio::test]
    async fn a_flickr_request_token_finishes_once() {
        let logins = PendingFlickrLogins::default();
        let token = RequestToken(crate::flickr::Token::new("rt", "rts"));
        logins.begin(token.clone()).await.expect("begun");
        assert!(logins.finish("other").await.is_err());
        assert_eq!(logins.finish("rt").await.ok(), Some(token));
        assert!(logins.finish("rt").await.is_err(), "reused");
    }

    #[tokio::test]
    async fn a_state_expires() {
        let logins = PendingLogins::with_lifetime(Duration::from_millis(1));
        let state = logins.begin(ResponseType::Token).await.expect("begun");
        // Letting the one-millisecond lifetime pass is what this test is about.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            logins.finish(&state, ResponseType::Token).await.is_err(),
            "expired"
        );
    }

    #[test]
    fn what_a_login_remembers_round_trips_as_text() {
        for flow in [ResponseType::Token, ResponseType::Code, ResponseType::Pin] {
            assert_eq!(ResponseType::from_text(&flow.to_text()), Some(flow));
        }
        let token = RequestToken(Token::new("rt", "s3cret"));
        assert_eq!(RequestToken::from_text(&token.to_text()), Some(token));
    }
}
