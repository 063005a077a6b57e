//! What can go wrong talking to Imgur, sorted so the API layer can pick one
//! HTTP status per case. Messages never carry a secret.

use super::wire::reset_seconds;

/// Imgur's rate-limit headers from one answer (`X-RateLimit-*`,
/// `X-Post-Rate-Limit-*`), names lower-cased, copied onto the gateway's response.
#[derive(Clone, Debug, Default)]
pub struct RateLimits(pub Vec<(String, String)>);

impl RateLimits {
    /// Picks the rate-limit headers out of an upstream answer.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        Self(
            headers
                .iter()
                .filter(|(name, _)| {
                    let name = name.as_str();
                    name.starts_with("x-ratelimit-") || name.starts_with("x-post-rate-limit-")
                })
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
        )
    }

    /// A header's value as a number.
    pub fn number(&self, name: &str) -> Option<i64> {
        self.get(name)?.trim().parse().ok()
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Seconds until the exhausted limit resets: the user limit, then the
    /// POST limit, then the client limit; else the user reset if sent.
    pub fn reset_hint(&self) -> Option<u64> {
        let exhausted = |remaining: &str| {
            self.get(remaining)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map(|n| n <= 0)
                .unwrap_or(false)
        };
        let pairs = [
            ("x-ratelimit-userremaining", "x-ratelimit-userreset"),
            ("x-post-rate-limit-remaining", "x-post-rate-limit-reset"),
            ("x-ratelimit-clientremaining", "x-ratelimit-clientreset"),
        ];
        pairs
            .iter()
            .find(|(remaining, reset)| exhausted(remaining) && self.get(reset).is_some())
            .and_then(|(_, reset)| self.get(reset))
            .or_else(|| self.get("x-ratelimit-userreset"))
            .and_then(reset_seconds)
    }
}

/// A failed Imgur call: what happened, the HTTP status Imgur answered (if it
/// answered), and its rate-limit headers.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    pub kind: ErrorKind,
    pub upstream_status: Option<u16>,
    pub rate_limits: RateLimits,
}

impl Error {
    /// An error Imgur did not answer (no upstream status).
    pub fn local(kind: ErrorKind) -> Self {
        Self {
            kind,
            upstream_status: None,
            rate_limits: RateLimits::default(),
        }
    }

    /// Whether Imgur is failing (rather than refusing this request), so a
    /// stale cached answer is better than an error.
    pub fn is_upstream_failure(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::OverCapacity { .. }
                | ErrorKind::Upstream { .. }
                | ErrorKind::InvalidResponse { .. }
                | ErrorKind::Unreachable(_)
                | ErrorKind::Timeout
        )
    }
}

/// The kinds of failure, each mapped to one HTTP status by the API layer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ErrorKind {
    /// No user authorization, or Imgur rejected the refresh token (403).
    #[error("{0}")]
    AuthorizationRequired(String),
    /// Imgur rejected the access token (handled inside the client by one
    /// refresh and replay; reaches the API only if the replay fails too).
    #[error("Imgur rejected the access token even after a refresh")]
    InvalidToken,
    /// Imgur 404.
    #[error("{message}")]
    NotFound { message: String },
    /// Imgur refused this caller (a 403 that is neither the invalid-token
    /// answer nor over capacity: not the owner, out of credits).
    #[error("{message}")]
    Forbidden { message: String },
    /// Imgur refused the request as invalid (400), e.g. an unusable upload.
    #[error("{message}")]
    Rejected { message: String },
    /// Imgur 429.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// pixgate kept the call out of the credit reserve without calling
    /// Imgur (429 `credit-reserve`).
    #[error("{message}")]
    CreditReserve { message: String, retry_after: u64 },
    /// Imgur refuses this network or region: "These actions are forbidden."
    /// (403 `blocked-by-imgur`; never refreshed, never retried).
    #[error("{message}")]
    BlockedByImgur { message: String },
    /// Imgur says it is over capacity (503 to the client).
    #[error("{message}")]
    OverCapacity { message: String, retry_after: u64 },
    /// Imgur answered an error the gateway has no better status for (502).
    #[error("{message}")]
    Upstream { message: String },
    /// Imgur's body was not its JSON format (502).
    #[error("{detail}")]
    InvalidResponse { detail: String },
    /// Imgur could not be reached (502).
    #[error("could not reach Imgur: {0}")]
    Unreachable(String),
    /// Imgur did not answer in time (504).
    #[error("Imgur did not answer in time")]
    Timeout,
    /// Imgur's token endpoint refused the app's credentials (502
    /// `client-credentials-rejected`): `IMGUR_CLIENT_ID`/`IMGUR_CLIENT_SECRET`
    /// are wrong; authorizing again cannot help.
    #[error("{message}")]
    ClientCredentialsRejected { message: String },
    /// Imgur answered a login and pixgate uses it, but could not store it yet
    /// (500 `login-not-stored`); the write is retried in the background.
    #[error("{message}")]
    NotStored { message: String },
    /// The operation needs Redis (`PIXGATE_REDIS_URL`), which is unreachable
    /// (503 `store-unavailable`); what does not need it keeps working.
    #[error("{0}")]
    StoreUnavailable(String),
    /// The token file could not be written or removed (500).
    #[error("could not update the token file: {0}")]
    Storage(String),
    /// A spooled upload could not be read back from local disk (500).
    #[error("could not read the spooled upload: {0}")]
    Spool(String),
}
