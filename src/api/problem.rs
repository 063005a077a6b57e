//! `application/problem+json` (RFC 9457): every error the API answers, and
//! the one place that decides which HTTP status each failure gets.

use crate::flickr;
use crate::gateway::FlickrFailure;
use crate::imgur::{self, ErrorKind, RateLimits};

use crate::ledger::LedgerError;
use crate::model::InvalidInput;
use crate::upload::{Busy, SpoolError};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The kinds of problem, each with a stable `type` URI ending in its slug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// 400: malformed input.
    InvalidInput,
    /// 401: `PIXGATE_API_KEY` is set and the request's key is missing or wrong.
    Unauthorized,
    /// 403: no user authorization, or Imgur rejected the refresh token.
    AuthorizationRequired,
    /// 403: Imgur refused this request (e.g. not the image's owner).
    Forbidden,
    /// 403: the `Host` header names a host this gateway does not answer to
    /// (DNS rebinding).
    HostNotAllowed,
    /// 403: an unsafe request from a browser page of another origin (CSRF).
    CrossOriginRefused,
    /// 404: Imgur has no such thing, or no such route.
    NotFound,
    /// 405: a known path with a method it does not take.
    MethodNotAllowed,
    /// 408: the client paused too long while sending its body.
    RequestTimeout,
    /// 413: upload or body over its limit.
    PayloadTooLarge,
    /// 415: a body of a media type the endpoint does not take.
    UnsupportedMediaType,
    /// 429: Imgur's rate limit.
    RateLimited,
    /// 429: the call would dip into the credit reserve (`PIXGATE_CREDIT_RESERVE`);
    /// pixgate answered without calling Imgur.
    CreditReserve,
    /// 403: Imgur refuses this network or region ("These actions are forbidden.").
    BlockedByImgur,
    /// 503: Imgur is over capacity.
    UpstreamOverCapacity,
    /// 503: `/readyz` while no access token can be had.
    NotReady,
    /// 503: uploads in progress hold the whole upload budget.
    Busy,
    /// 502: Imgur failed or answered something unreadable.
    UpstreamError,
    /// 504: Imgur did not answer in time.
    UpstreamTimeout,
    /// 502: Imgur's token endpoint refused the app's client id or secret
    /// (`IMGUR_CLIENT_ID`/`IMGUR_CLIENT_SECRET`).
    ClientCredentialsRejected,
    /// 500: Imgur accepted a login and pixgate uses it, but the token file
    /// could not be written yet; pixgate keeps retrying.
    LoginNotStored,
    /// 503: the operation needs Redis (`PIXGATE_REDIS_URL`), which is unreachable.
    StoreUnavailable,
    /// 500: a local failure (disk); details are logged.
    Internal,
    /// 404: a provider's routes without its app credentials (`FLICKR_API_KEY`).
    ProviderNotConfigured,
}

impl ProblemKind {
    /// Status, `type` URI (ending in the slug) and title.
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use ProblemKind::*;
        match self {
            InvalidInput => (
                StatusCode::BAD_REQUEST,
                "urn:pixgate:problem:invalid-input",
                "Invalid input",
            ),
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "urn:pixgate:problem:unauthorized",
                "Missing or wrong API key",
            ),
            AuthorizationRequired => (
                StatusCode::FORBIDDEN,
                "urn:pixgate:problem:authorization-required",
                "Imgur authorization required",
            ),
            Forbidden => (
                StatusCode::FORBIDDEN,
                "urn:pixgate:problem:forbidden",
                "Imgur refused the request",
            ),
            HostNotAllowed => (
                StatusCode::FORBIDDEN,
                "urn:pixgate:problem:host-not-allowed",
                "Host not allowed",
            ),
            CrossOriginRefused => (
                StatusCode::FORBIDDEN,
                "urn:pixgate:problem:cross-origin-refused",
                "Cross-origin request refused",
            ),
            NotFound => (
                StatusCode::NOT_FOUND,
                "urn:pixgate:problem:not-found",
                "Not found",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "urn:pixgate:problem:method-not-allowed",
                "Method not allowed",
            ),
            RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "urn:pixgate:problem:request-timeout",
                "Request timeout",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "urn:pixgate:problem:payload-too-large",
                "Payload too large",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "urn:pixgate:problem:unsupported-media-type",
                "Unsupported media type",
            ),
            RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "urn:pixgate:problem:rate-limited",
                "Imgur rate limit reached",
            ),
            CreditReserve => (
                StatusCode::TOO_MANY_REQUESTS,
                "urn:pixgate:problem:credit-reserve",
                "Imgur credit reserve reached",
            ),
            BlockedByImgur => (
                StatusCode::FORBIDDEN,
                "urn:pixgate:problem:blocked-by-imgur",
                "Imgur refuses this network or region",
            ),
            UpstreamOverCapacity => (
                StatusCode::SERVICE_UNAVAILABLE,
                "urn:pixgate:problem:upstream-over-capacity",
                "Imgur is over capacity",
            ),
            NotReady => (
                StatusCode::SERVICE_UNAVAILABLE,
                "urn:pixgate:problem:not-ready",
                "Not ready",
            ),
            Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "urn:pixgate:problem:busy",
                "Busy",
            ),
            UpstreamError => (
                StatusCode::BAD_GATEWAY,
                "urn:pixgate:problem:upstream-error",
                "Imgur failed",
            ),
            UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "urn:pixgate:problem:upstream-timeout",
                "Imgur did not answer in time",
            ),
            ClientCredentialsRejected => (
                StatusCode::BAD_GATEWAY,
                "urn:pixgate:problem:client-credentials-rejected",
                "Imgur rejected the app's client id or secret",
            ),
            LoginNotStored => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "urn:pixgate:problem:login-not-stored",
                "Logged in, but not stored yet",
            ),
            StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "urn:pixgate:problem:store-unavailable",
                "The shared store (Redis) is unavailable",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "urn:pixgate:problem:internal",
                "Internal error",
            ),
            ProviderNotConfigured => (
                StatusCode::NOT_FOUND,
                "urn:pixgate:problem:provider-not-configured",
                "Provider not configured",
            ),
        }
    }
}

/// An RFC 9457 problem. Never carries a secret: details come from input
/// validation or from Imgur's own error text.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:pixgate:problem:authorization-required",
    "title": "Imgur authorization required",
    "status": 403,
    "detail": "pixgate has no Imgur user authorization. Open /auth/login in a browser, run `pixgate login`, or set IMGUR_REFRESH_TOKEN."
}))]
pub struct Problem {
    /// A stable URI naming the kind of problem; its last segment is the slug
    /// (e.g. `authorization-required`).
    #[serde(rename = "type")]
    pub problem_type: &'static str,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case, and what to do.
    pub detail: String,
    /// The HTTP status Imgur answered, when Imgur answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    /// Headers sent with the problem: `Retry-After`, `Allow`, Imgur's rate limits.
    #[serde(skip)]
    #[schema(ignore)]
    headers: Vec<(String, String)>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        let (status, problem_type, title) = kind.parts();
        Self {
            problem_type,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            upstream_status: None,
            headers: Vec::new(),
        }
    }

    /// A 405 for a path that takes `allow` (comma-separated methods).
    pub fn method_not_allowed(method: &str, path: &str, allow: String) -> Self {
        let mut problem = Self::new(
            ProblemKind::MethodNotAllowed,
            format!("{path} does not take {method}; it takes {allow}"),
        );
        problem.headers.push((header::ALLOW.to_string(), allow));
        problem
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::InvalidInput, detail)
    }

    /// The problem with `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.headers
            .push((header::RETRY_AFTER.to_string(), seconds.to_string()));
        self
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(Problem::status_code(self));
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if self.status == 401 {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        insert_headers(&mut response, &self.headers);
        let body = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        response.body(body)
    }
}

/// Copies Imgur's rate-limit headers onto a response.
pub fn copy_rate_limits(response: &mut HttpResponseBuilder, rate_limits: &RateLimits) {
    insert_headers(response, &rate_limits.0);
}

fn insert_headers(response: &mut HttpResponseBuilder, headers: &[(String, String)]) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            response.insert_header((name, value));
        }
    }
}

/// The one mapping from Imgur failures to HTTP.
impl From<imgur::Error> for Problem {
    fn from(error: imgur::Error) -> Self {
        let (kind, retry_after) = match &error.kind {
            ErrorKind::AuthorizationRequired(_) | ErrorKind::InvalidToken => {
                (ProblemKind::AuthorizationRequired, None)
            }
            ErrorKind::NotFound { .. } => (ProblemKind::NotFound, None),
            ErrorKind::Forbidden { .. } => (ProblemKind::Forbidden, None),
            ErrorKind::Rejected { .. } => (ProblemKind::InvalidInput, None),
            ErrorKind::RateLimited { retry_after, .. } => {
                (ProblemKind::RateLimited, Some(*retry_after))
            }
            ErrorKind::OverCapacity { retry_after, .. } => {
                (ProblemKind::UpstreamOverCapacity, Some(*retry_after))
            }
            ErrorKind::CreditReserve { retry_after, .. } => {
                (ProblemKind::CreditReserve, Some(*retry_after))
            }
            ErrorKind::BlockedByImgur { .. } => (ProblemKind::BlockedByImgur, None),
            ErrorKind::Upstream { .. }
            | ErrorKind::InvalidResponse { .. }
            | ErrorKind::Unreachable(_) => (ProblemKind::UpstreamError, None),
            ErrorKind::Timeout => (ProblemKind::UpstreamTimeout, None),
            ErrorKind::ClientCredentialsRejected { .. } => {
                (ProblemKind::ClientCredentialsRejected, None)
            }
            ErrorKind::NotStored { .. } => (ProblemKind::LoginNotStored, None),
            ErrorKind::StoreUnavailable(_) => {
                (ProblemKind::StoreUnavailable, Some(STORE_RETRY_AFTER_SECS))
            }
            ErrorKind::Spool(_) | ErrorKind::Storage(_) => (ProblemKind::Internal, None),
        };
        if kind == ProblemKind::Internal || kind == ProblemKind::UpstreamError {
            tracing::warn!(error = %error, upstream_status = ?error.upstream_status, "upstream call failed");
        }
        let detail = match (&error.kind, error.upstream_status) {
            (
                ErrorKind::NotFound { message }
                | ErrorKind::Rejected { message }
                | ErrorKind::Forbidden { message },
                _,
            ) => {
                format!("Imgur: {message}")
            }
            (ErrorKind::BlockedByImgur { message }, _) => format!(
                "Imgur refuses requests from this network or region (Imgur: {message}). Authorizing again will not help, and pixgate does not retry: Imgur blocks some regions and networks (the UK since 30 September 2025, for example). Call from another network."
            ),
            (ErrorKind::Upstream { message }, Some(status)) => {
                format!("Imgur answered HTTP {status}: {message}")
            }
            (ErrorKind::Spool(_), _) => "the upload could not be read back from local disk".into(),
            (ErrorKind::Storage(_), _) => {
                "the token file could not be updated; see the gateway's log".into()
            }
            (kind, _) => kind.to_string(),
        };
        let mut problem = Problem::new(kind, detail);
        problem.upstream_status = error.upstream_status;
        if let Some(seconds) = retry_after {
            problem = problem.retry_after(seconds);
        }
        problem.headers.extend(error.rate_limits.0);
        problem
    }
}

/// How long to wait after Flickr said it is unavailable (105, 106, 503):
/// Flickr sends no `Retry-After`.
const FLICKR_RETRY_AFTER_SECS: u64 = 30;

/// The one mapping from Flickr failures to HTTP.
impl From<FlickrFailure> for Problem {
    fn from(failure: FlickrFailure) -> Self {
        use flickr::Error as F;
        let error = match failure {
            FlickrFailure::NotConfigured => {
                return Problem::new(
                    ProblemKind::ProviderNotConfigured,
                    "Flickr is not configured: set FLICKR_API_KEY and FLICKR_API_SECRET (see README, \"Flickr\"), or try every Flickr route in `pixgate --demo`",
                )
            }
            FlickrFailure::NotAuthorized => {
                return flickr_titled(Problem::new(
                    ProblemKind::AuthorizationRequired,
                    "pixgate has no Flickr authorization. Open /flickr/auth/login in a browser, run `pixgate login --provider flickr`, or bring an existing token with POST /flickr/auth/token",
                ))
            }
            FlickrFailure::UnknownRequestToken(e) => return Problem::invalid(e.to_string()),
            FlickrFailure::Tokens(e) => return Problem::from(e),
            FlickrFailure::Spool(e) => {
                tracing::error!(error = %e, "could not read back a spooled Flickr upload");
                return Problem::new(
                    ProblemKind::Internal,
                    "the upload could not be read back from local disk",
                );
            }
            FlickrFailure::Flickr(error) => error,
        };
        let (kind, retry_after) = match &error {
            F::NotFound { .. } => (ProblemKind::NotFound, None),
            F::InvalidToken { .. } | F::TokenRejected => (ProblemKind::AuthorizationRequired, None),
            F::InsufficientPermissions { .. } | F::Refused { .. } => (ProblemKind::Forbidden, None),
            F::InvalidApiKey { .. } => (ProblemKind::ClientCredentialsRejected, None),
            F::ServiceUnavailable { .. } => (
                ProblemKind::UpstreamOverCapacity,
                Some(FLICKR_RETRY_AFTER_SECS),
            ),
            F::RateLimited { retry_after } => (
                ProblemKind::RateLimited,
                Some(retry_after.unwrap_or(FLICKR_RETRY_AFTER_SECS)),
            ),
            F::VerifierInvalid => (ProblemKind::InvalidInput, None),
            F::Timeout => (ProblemKind::UpstreamTimeout, None),
            F::InvalidUrl(_) => (ProblemKind::Internal, None),
            F::SignatureInvalid { .. }
            | F::TimestampRefused
            | F::OAuthProblem { .. }
            | F::Failed { .. }
            | F::Upstream { .. }
            | F::Transport(_)
            | F::BadBody { .. } => (ProblemKind::UpstreamError, None),
        };
        if matches!(
            kind,
            ProblemKind::UpstreamError
                | ProblemKind::Internal
                | ProblemKind::ClientCredentialsRejected
        ) {
            tracing::warn!(error = %error, "Flickr call failed");
        }
        let detail = match &error {
            F::InvalidToken { .. } => "Flickr rejected the stored access token (revoked, or the app's access was removed). Authorize again: open /flickr/auth/login, run `pixgate login --provider flickr`, or POST /flickr/auth/token".to_owned(),
            F::TokenRejected => "Flickr rejected the token (token_rejected): a request token is single use and expires. Start the login again at /flickr/auth/login; nothing was stored".to_owned(),
            F::InsufficientPermissions { needed, message } => format!(
                "the Flickr token lacks {needed} permission ({message}); authorize again with perms={needed}: open /flickr/auth/login (pixgate asks for perms=delete)"
            ),
            F::InvalidApiKey { message } => format!(
                "Flickr rejected the app's API key ({message}): FLICKR_API_KEY is invalid, expired or disabled. Check it at https://www.flickr.com/services/apps/ (new keys need Flickr Pro)"
            ),
            F::SignatureInvalid { .. } => "Flickr refused the request's signature (signature_invalid). Check FLICKR_API_SECRET; run with RUST_LOG=pixgate=debug to log Flickr's and pixgate's base strings (redacted)".to_owned(),
            F::VerifierInvalid => "Flickr refused the verifier (verifier_invalid): it does not belong to this login. Copy the code Flickr shows exactly, dashes included, or start again".to_owned(),
            other => other.to_string(),
        };
        let mut problem = flickr_titled(Problem::new(kind, detail));
        if let Some(seconds) = retry_after {
            problem = problem.retry_after(seconds);
        }
        problem
    }
}

/// The problem with a title naming Flickr where the kind's names Imgur.
fn flickr_titled(mut problem: Problem) -> Problem {
    problem.title = match problem.problem_type.rsplit(':').next() {
        Some("authorization-required") => "Flickr authorization required",
        Some("forbidden") => "Flickr refused the request",
        Some("rate-limited") => "Flickr rate limit reached",
        Some("upstream-over-capacity") => "Flickr is temporarily unavailable",
        Some("upstream-error") => "Flickr failed",
        Some("upstream-timeout") => "Flickr did not answer in time",
        Some("client-credentials-rejected") => "Flickr rejected the app's API key",
        _ => problem.title,
    };
    problem
}

impl From<LedgerError> for Problem {
    fn from(error: LedgerError) -> Self {
        tracing::error!(%error, "the upload ledger failed");
        Problem::new(
            ProblemKind::Internal,
            "the upload ledger could not be read; see the gateway's log",
        )
    }
}

impl From<InvalidInput> for Problem {
    fn from(error: InvalidInput) -> Self {
        Problem::invalid(error.0)
    }
}

impl From<SpoolError> for Problem {
    fn from(error: SpoolError) -> Self {
        match error {
            SpoolError::TooLarge { limit } => Problem::new(
                ProblemKind::PayloadTooLarge,
                format!(
                    "the file is larger than Imgur's limit of {} MiB for this field",
                    limit / (1024 * 1024)
                ),
            ),
            SpoolError::Busy(busy) => busy.into(),
            SpoolError::Io(e) => {
                tracing::error!(error = %e, "could not spool an upload");
                Problem::new(
                    ProblemKind::Internal,
                    "the upload could not be stored temporarily",
                )
            }
        }
    }
}

/// How long a client refused as [`ProblemKind::Busy`] should wait: uploads
/// in progress usually end within seconds.
const BUSY_RETRY_AFTER_SECS: u64 = 5;
/// `Retry-After` of `store-unavailable`: Redis usually comes back within seconds.
const STORE_RETRY_AFTER_SECS: u64 = 5;

impl From<Busy> for Problem {
    fn from(error: Busy) -> Self {
        tracing::warn!(
            limit = error.limit,
            "refused an upload: the upload budget is used up"
        );
        Problem::new(
            ProblemKind::Busy,
            format!(
                "uploads in progress already hold the gateway's upload budget (PIXGATE_UPLOAD_BUDGET_BYTES, {} bytes), so this upload was not sent to Imgur; try again shortly",
                error.limit
            ),
        )
        .retry_after(BUSY_RETRY_AFTER_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(kind: ErrorKind) -> u16 {
        Problem::from(imgur::Error::local(kind)).status
    }

    #[test]
    fn imgur_failures_map_to_the_contracted_statuses() {
        let m = || String::from("m");
        assert_eq!(status_of(ErrorKind::AuthorizationRequired(m())), 403);
        assert_eq!(status_of(ErrorKind::NotFound { message: m() }), 404);
        assert_eq!(
            status_of(ErrorKind::RateLimited {
                message: m(),
                retry_after: 5
            }),
            429
        );
        assert_eq!(
            status_of(ErrorKind::OverCapacity {
                message: m(),
                retry_after: 5
            }),
            503
        );
        assert_eq!(status_of(ErrorKind::Upstream { message: m() }), 502);
        assert_eq!(status_of(ErrorKind::InvalidResponse { detail: m() }), 502);
        assert_eq!(status_of(ErrorKind::Unreachable(m())), 502);
        assert_eq!(status_of(ErrorKind::Timeout), 504);
        assert_eq!(
            status_of(ErrorKind::CreditReserve {
                message: m(),
                retry_after: 5
            }),
            429
        );
        assert_eq!(status_of(ErrorKind::BlockedByImgur { message: m() }), 403);
    }

    fn flickr_problem(error: flickr::Error) -> Problem {
        Problem::from(FlickrFailure::Flickr(error))
    }

    #[test]
    fn flickr_failures_map_to_the_contracted_problems() {
        let m = || String::from("m");
        let cases = [
            (
                flickr::Error::from_stat(1, m(), flickr::Perms::Read),
                404,
                "not-found",
            ),
            (
                flickr::Error::from_stat(98, m(), flickr::Perms::Read),
                403,
                "authorization-required",
            ),
            (flickr::Error::TokenRejected, 403, "authorization-required"),
            (
                flickr::Error::from_stat(99, m(), flickr::Perms::Delete),
                403,
                "forbidden",
            ),
            (
                flickr::Error::from_stat(100, m(), flickr::Perms::Read),
                502,
                "client-credentials-rejected",
            ),
            (
                flickr::Error::from_stat(105, m(), flickr::Perms::Read),
                503,
                "upstream-over-capacity",
            ),
            (
                flickr::Error::from_stat(106, m(), flickr::Perms::Read),
                503,
                "upstream-over-capacity",
            ),
            (
                flickr::Error::SignatureInvalid {
                    debug_sbs: Some("GET&x&oauth_nonce%3Dn".into()),
                },
                502,
                "upstream-error",
            ),
            (flickr::Error::TimestampRefused, 502, "upstream-error"),
            (flickr::Error::Timeout, 504, "upstream-timeout"),
        ];
        for (error, status, slug) in cases {
            let shown = error.to_string();
            let problem = flickr_problem(error);
            assert_eq!(problem.status, status, "{shown}");
            assert!(
                problem.problem_type.ends_with(slug),
                "{shown}: {}",
                problem.problem_type
            );
            assert!(!problem.title.contains("Imgur"), "{}", problem.title);
        }
        let perms = flickr_problem(flickr::Error::from_stat(99, m(), flickr::Perms::Delete));
        assert!(perms.detail.contains("perms=delete"), "{}", perms.detail);
        let clock = flickr_problem(flickr::Error::TimestampRefused);
        assert!(clock.detail.contains("clock"), "{}", clock.detail);
        let sbs = flickr_problem(flickr::Error::SignatureInvalid {
            debug_sbs: Some("GET&x&oauth_nonce%3Dn".into()),
        });
        assert!(
            !sbs.detail.contains("oauth_nonce"),
            "debug_sbs only goes to the debug log"
        );
        let off = Problem::from(FlickrFailure::NotConfigured);
        assert_eq!(off.status, 404);
        assert_eq!(
            off.problem_type,
            "urn:pixgate:problem:provider-not-configured"
        );
        assert!(off.detail.contains("FLICKR_API_KEY"));
    }

    #[test]
    fn the_type_uri_ends_in_the_slug() {
        let problem = Problem::new(ProblemKind::AuthorizationRequired, "x");
        assert!(problem.problem_type.ends_with("authorization-required"));
    }
}
