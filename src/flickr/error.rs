//! What can go wrong talking to Flickr, sorted so the API layer can pick
//! one HTTP status per case. Messages never carry a secret: Flickr's
//! `debug_sbs` holds the token and the consumer key, so it is kept only
//! redacted ([`redact_base_string`]) and only for a debug-level log.
//!
//! Flickr fails in three shapes, all sorted here: a REST answer with HTTP
//! 200 and `{"stat":"fail","code":N,"message":..}`, the upload's XML
//! `<rsp stat="fail"><err code msg/></rsp>`, and the OAuth layer's HTTP 401
//! `text/plain` `oauth_problem=…` (with `debug_sbs=…` for a bad signature).
//!
//! The intended mapping to problem+json (issue #13, item 5; wired up with
//! the `/flickr/` routes):
//!
//! | variant | HTTP | problem type |
//! |---|---|---|
//! | [`Error::NotFound`] (code 1) | 404 | `not-found` |
//! | [`Error::InvalidToken`] (98), [`Error::TokenRejected`] | 403 | `authorization-required` |
//! | [`Error::InsufficientPermissions`] (99) | 403 | `forbidden`, naming the perms to authorize |
//! | [`Error::InvalidApiKey`] (100, `consumer_key_unknown`) | 502 | `client-credentials-rejected` |
//! | [`Error::ServiceUnavailable`] (105, 106, HTTP 503) | 503 | `upstream-over-capacity` |
//! | [`Error::SignatureInvalid`] | 502 | `upstream-error` (`debug_sbs` logged at debug level) |
//! | [`Error::TimestampRefused`] | 502 | `upstream-error`, saying the clock is off |
//! | [`Error::VerifierInvalid`] | 400 | `invalid-input` (the verifier typed was wrong) |
//! | [`Error::OAuthProblem`] (other `oauth_problem`) | 502 | `upstream-error` |
//! | [`Error::Refused`] (a method's refusal, e.g. favoriting one's own photo) | 403 | `forbidden` |
//! | [`Error::Failed`] (other `stat: fail`) | 502 | `upstream-error` |
//! | [`Error::RateLimited`] (HTTP 429) | 429 | `rate-limited`, with `Retry-After` |
//! | [`Error::Upstream`] (another HTTP error) | 502 | `upstream-error` |
//! | [`Error::Transport`] | 502 | `upstream-error` |
//! | [`Error::Timeout`] | 504 | `upstream-timeout` |
//! | [`Error::BadBody`] | 502 | `upstream-error` |
//! | [`Error::InvalidUrl`] (a misconfigured base URL) | 500 | `internal` |

use super::credentials::Perms;
use super::signing;

/// A failed Flickr call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Code 1: the photo (or user) does not exist, or is not the caller's to change.
    #[error("Flickr: {message}")]
    NotFound { message: String },
    /// Code 98: the access token is unknown or was revoked. No refresh exists
    /// in OAuth 1.0a: the user must authorize again.
    #[error("Flickr rejected the access token ({message}); authorize again")]
    InvalidToken { message: String },
    /// `oauth_problem=token_rejected`: a request token that was already used,
    /// expired or unknown (never retried: start the authorization again).
    #[error("Flickr rejected the token (token_rejected); start the authorization again")]
    TokenRejected,
    /// Code 99: the token's perms are too low for this call.
    #[error("the Flickr token lacks {needed} permission; authorize again with perms={needed}")]
    InsufficientPermissions { needed: Perms, message: String },
    /// Code 100, or `oauth_problem=consumer_key_unknown`: the app's key is
    /// invalid, expired or disabled.
    #[error("Flickr rejected the app's API key: {message}")]
    InvalidApiKey { message: String },
    /// Code 105 (service unavailable), 106 (write failed, temporary), or HTTP 503.
    #[error("Flickr is temporarily unavailable: {message}")]
    ServiceUnavailable { code: Option<u32>, message: String },
    /// `oauth_problem=signature_invalid`. `debug_sbs` is Flickr's base
    /// string with the token and consumer key redacted: log it at debug level.
    #[error("Flickr refused the request's signature (signature_invalid)")]
    SignatureInvalid { debug_sbs: Option<String> },
    /// `oauth_problem=timestamp_refused`: this machine's clock is off.
    #[error(
        "Flickr refused the request's timestamp (timestamp_refused): check this machine's clock"
    )]
    TimestampRefused,
    /// `oauth_problem=verifier_invalid`: the verifier does not match the request token.
    #[error("Flickr refused the verifier (verifier_invalid)")]
    VerifierInvalid,
    /// Another `oauth_problem` (`parameter_absent`, `nonce_used`, …).
    #[error("Flickr's OAuth layer refused the request: {problem}")]
    OAuthProblem {
        problem: String,
        /// `oauth_parameters_absent`, when Flickr names them.
        parameters_absent: Option<String>,
    },
    /// A method's own refusal of this user's request, such as favorites.add's
    /// 2 "Photo is owned by you" or 4 "User cannot see photo".
    #[error("Flickr refused: {message}")]
    Refused { code: u32, message: String },
    /// Another `stat: fail` code, with Flickr's message.
    #[error("Flickr error {code}: {message}")]
    Failed { code: u32, message: String },
    /// HTTP 429.
    #[error("Flickr is rate limiting this app")]
    RateLimited { retry_after: Option<u64> },
    /// Another HTTP error status, without a Flickr error body.
    #[error("Flickr answered HTTP {status}")]
    Upstream { status: u16 },
    /// Flickr could not be reached.
    #[error("could not reach Flickr: {0}")]
    Transport(String),
    /// Flickr did not answer in time.
    #[error("Flickr did not answer in time")]
    Timeout,
    /// Flickr's body was not its format (or too large).
    #[error("{detail}")]
    BadBody { detail: String },
    /// A configured base URL that cannot be signed.
    #[error(transparent)]
    InvalidUrl(#[from] signing::InvalidUrl),
}

impl Error {
    /// Sorts a `stat: fail` code; `needed` is the perms the method requires
    /// (for code 99).
    pub fn from_stat(code: u32, message: String, needed: Perms) -> Self {
        match code {
            1 => Self::NotFound { message },
            98 => Self::InvalidToken { message },
            99 => Self::InsufficientPermissions { needed, message },
            100 => Self::InvalidApiKey { message },
            105 | 106 => Self::ServiceUnavailable {
                code: Some(code),
                message,
            },
            _ => Self::Failed { code, message },
        }
    }

    /// Sorts an OAuth-layer answer (`oauth_problem=…`).
    pub fn from_oauth_problem(
        problem: &str,
        debug_sbs: Option<&str>,
        parameters_absent: Option<String>,
    ) -> Self {
        match problem {
            "signature_invalid" => Self::SignatureInvalid {
                debug_sbs: debug_sbs.map(redact_base_string),
            },
            "token_rejected" | "token_revoked" | "token_expired" | "token_used" => {
                Self::TokenRejected
            }
            "timestamp_refused" => Self::TimestampRefused,
            "verifier_invalid" => Self::VerifierInvalid,
            "consumer_key_unknown" | "consumer_key_rejected" | "consumer_key_refused" => {
                Self::InvalidApiKey {
                    message: problem.to_owned(),
                }
            }
            _ => Self::OAuthProblem {
                problem: problem.to_owned(),
                parameters_absent,
            },
        }
    }

    /// Whether Flickr is failing (rather than refusing this request), so a
    /// stale cached answer is better than an error.
    pub fn is_upstream_failure(&self) -> bool {
        matches!(
            self,
            Self::ServiceUnavailable { .. }
                | Self::Upstream { .. }
                | Self::Transport(_)
                | Self::Timeout
                | Self::BadBody { .. }
        )
    }
}

/// Names whose values a base string must not show in a log.
const SECRET_PARAMS: [&str; 4] = [
    "oauth_token",
    "oauth_consumer_key",
    "oauth_verifier",
    "oauth_signature",
];

/// A base string with the values of [`SECRET_PARAMS`] replaced by
/// `[REDACTED]`. A base string is `METHOD&enc(uri)&enc(params)`, so the
/// parameters are decoded once, redacted, and re-encoded; anything else
/// (not a base string) is redacted whole.
pub fn redact_base_string(base_string: &str) -> String {
    let mut parts = base_string.splitn(3, '&');
    let (Some(method), Some(uri), Some(params)) = (parts.next(), parts.next(), parts.next()) else {
        return "[REDACTED: not a base string]".to_owned();
    };
    let Ok(decoded) = percent_encoding::percent_decode_str(params).decode_utf8() else {
        return "[REDACTED: not a base string]".to_owned();
    };
    let pairs: Vec<String> = decoded
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name) => format!("{name}=[REDACTED]"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{method}&{uri}&{}", signing::encode(&pairs.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_codes_sort_into_their_variants() {
        let sorted = |code| Error::from_stat(code, "m".into(), Perms::Delete);
        assert!(matches!(sorted(1), Error::NotFound { .. }));
        assert!(matches!(sorted(98), Error::InvalidToken { .. }));
        assert!(matches!(
            sorted(99),
            Error::InsufficientPermissions {
                needed: Perms::Delete,
                ..
            }
        ));
        assert!(matches!(sorted(100), Error::InvalidApiKey { .. }));
        assert!(matches!(
            sorted(105),
            Error::ServiceUnavailable {
                code: Some(105),
                ..
            }
        ));
        assert!(matches!(
            sorted(106),
            Error::ServiceUnavailable {
                code: Some(106),
                ..
            }
        ));
        assert!(matches!(sorted(112), Error::Failed { code: 112, .. }));
    }

    #[test]
    fn insufficient_permissions_says_which_perms_to_authorize() {
        let error = Error::from_stat(99, "Insufficient permissions".into(), Perms::Delete);
        assert!(error.to_string().contains("perms=delete"), "{error}");
    }

    #[test]
    fn redacted_base_string_hides_token_key_verifier_and_keeps_the_rest() {
        let sbs = "GET&https%3A%2F%2Fapi.flickr.com%2Fservices%2Frest&method%3Dflickr.test.login%26oauth_consumer_key%3Dk3y%26oauth_nonce%3Dabc%26oauth_token%3D7215-secret%26oauth_verifier%3D123-456";
        let redacted = redact_base_string(sbs);
        for secret in ["k3y", "7215-secret", "123-456"] {
            assert!(!redacted.contains(secret), "{redacted}");
        }
        assert!(redacted.starts_with("GET&https%3A%2F%2Fapi.flickr.com%2Fservices%2Frest&"));
        assert!(
            redacted.contains("method%3Dflickr.test.login"),
            "{redacted}"
        );
        assert!(redacted.contains("oauth_nonce%3Dabc"), "{redacted}");
        assert!(
            redacted.contains("oauth_token%3D%5BREDACTED%5D"),
            "{redacted}"
        );
        assert_eq!(
            redact_base_string("nonsense"),
            "[REDACTED: not a base string]"
        );
    }

    #[test]
    fn signature_invalid_keeps_only_the_redacted_base_string() {
        let error = Error::from_oauth_problem(
            "signature_invalid",
            Some("POST&u&oauth_token%3Dsecret-token"),
            None,
        );
        let Error::SignatureInvalid {
            debug_sbs: Some(sbs),
        } = &error
        else {
            panic!("{error:?}");
        };
        assert!(!sbs.contains("secret-token"));
        assert!(!format!("{error:?}").contains("secret-token"));
    }
}
