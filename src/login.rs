//! Pending browser logins: the `state` values sent to Imgur's authorize
//! page. Each is random (256 bits), used once, and expires after ten
//! minutes, so a callback can only finish a login this gateway started.

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
