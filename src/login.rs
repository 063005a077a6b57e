//! Pending browser logins: the `state` values sent to Imgur's authorize
//! page. Each is random (256 bits), used once, and expires after ten
//! minutes, so a callback can only finish a login this gateway started.

use crate::flickr::RequestToken;
use crate::model::ResponseType;
use moka::sync::Cache;
use rand::RngCore;
use std::time::{Duration, Instant};

/// How long a login may take from `/auth/login` to the callback.
const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Bounds memory if someone starts logins in a loop.
const MAX_PENDING_LOGINS: u64 = 10_000;

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
#[error("this login link is unknown, already used, or expired (older than 10 minutes); start again at /auth/login")]
pub struct UnknownState;

/// The logins started and not yet finished.
pub struct PendingLogins {
    /// The flow and start of each login. The TTL only frees memory: moka's
    /// `remove` still returns an expired entry, so `finish` checks the age.
    pending: Cache<String, (ResponseType, Instant)>,
    lifetime: Duration,
}

impl Default for PendingLogins {
    fn default() -> Self {
        Self::with_lifetime(LOGIN_LIFETIME)
    }
}

impl PendingLogins {
    fn with_lifetime(lifetime: Duration) -> Self {
        Self {
            pending: Cache::builder()
                .time_to_live(lifetime)
                .max_capacity(MAX_PENDING_LOGINS)
                .build(),
            lifetime,
        }
    }

    /// Starts a login answered with `response_type`; returns its state.
    pub fn begin(&self, response_type: ResponseType) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let state: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.pending
            .insert(state.clone(), (response_type, Instant::now()));
        state
    }

    /// Consumes `state`, which must belong to a pending login of `response_type`.
    pub fn finish(&self, state: &str, response_type: ResponseType) -> Result<(), UnknownState> {
        match self.pending.remove(state) {
            Some((expected, started))
                if expected == response_type && started.elapsed() < self.lifetime =>
            {
                Ok(())
            }
            _ => Err(UnknownState),
        }
    }
}

/// Pending Flickr browser logins: the request tokens sent to Flickr's
/// authorize page, each with its secret, used once and expiring like an
/// Imgur `state` (Flickr's request token plays the state's part: the
/// callback names it, and only this gateway holds its secret).
pub struct PendingFlickrLogins {
    pending: Cache<String, (RequestToken, Instant)>,
    lifetime: Duration,
}

impl Default for PendingFlickrLogins {
    fn default() -> Self {
        Self {
            pending: Cache::builder()
                .time_to_live(LOGIN_LIFETIME)
                .max_capacity(MAX_PENDING_LOGINS)
                .build(),
            lifetime: LOGIN_LIFETIME,
        }
    }
}

/// Why a Flickr callback was refused.
#[derive(Debug, thiserror::Error)]
#[error("this Flickr login link is unknown, already used, or expired (older than 10 minutes); start again at /flickr/auth/login")]
pub struct UnknownRequestToken;

impl PendingFlickrLogins {
    /// Remembers a request token sent to the authorize page.
    pub fn begin(&self, request_token: RequestToken) {
        let key = request_token.0.token.expose().to_owned();
        self.pending.insert(key, (request_token, Instant::now()));
    }

    /// Consumes the pending login of `token` (the callback's `oauth_token`).
    pub fn finish(&self, token: &str) -> Result<RequestToken, UnknownRequestToken> {
        match self.pending.remove(token) {
            Some((request_token, started)) if started.elapsed() < self.lifetime => {
                Ok(request_token)
            }
            _ => Err(UnknownRequestToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_finishes_once_and_only_its_own_flow() {
        let logins = PendingLogins::default();
        let state = logins.begin(ResponseType::Code);
        assert_eq!(state.len(), 64, "256 bits");
        assert!(
            logins.finish(&state, ResponseType::Token).is_err(),
            "wrong flow"
        );
        let state = logins.begin(ResponseType::Code);
        assert!(logins.finish(&state, ResponseType::Code).is_ok());
        assert!(logins.finish(&state, ResponseType::Code).is_err(), "reused");
        assert!(logins.finish("made-up", ResponseType::Code).is_err());
        assert_ne!(
            logins.begin(ResponseType::Code),
            logins.begin(ResponseType::Code)
        );
    }

    #[test]
    fn a_flickr_request_token_finishes_once() {
        let logins = PendingFlickrLogins::default();
        let token = RequestToken(crate::flickr::Token::new("rt", "rts"));
        logins.begin(token.clone());
        assert!(logins.finish("other").is_err());
        assert_eq!(logins.finish("rt").ok(), Some(token));
        assert!(logins.finish("rt").is_err(), "reused");
    }

    #[test]
    fn a_state_expires() {
        let logins = PendingLogins::with_lifetime(Duration::from_millis(1));
        let state = logins.begin(ResponseType::Token);
        // Letting the one-millisecond lifetime pass is what this test is about.
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            logins.finish(&state, ResponseType::Token).is_err(),
            "expired"
        );
    }
}
