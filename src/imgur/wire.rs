//! Imgur's wire format: the `{data, success, status}` envelope, the token
//! endpoint's un-enveloped answer, the shapes error bodies come in, and the
//! rate-limit headers. Nothing outside `imgur` sees these types.

use super::error::{ErrorKind, RateLimits};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::{SystemTime, UNIX_EPOCH};

/// The error text Imgur sends with a 403 when the bearer token is expired or
/// invalid. Only this 403 triggers a refresh: a 403 also means "over capacity"
/// or "out of credits".
pub const INVALID_TOKEN_MESSAGE: &str = "The access token provided is invalid.";

/// What Imgur answers (400 or 403, often with `CDN-Error: yes`) to networks
/// and regions it blocks. No refresh or retry changes it.
pub const BLOCKED_MESSAGE: &str = "These actions are forbidden.";

/// How long to ask clients to wait when Imgur gives no hint.
const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// Values above this are unix timestamps rather than seconds to wait
/// (Imgur sends `X-RateLimit-UserReset` in both forms).
const EPOCH_THRESHOLD: u64 = 1_000_000_000;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Takes `data` out of a success envelope, as raw JSON bytes.
pub fn unwrap_data(body: &[u8]) -> Option<Bytes> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
    Some(Bytes::copy_from_slice(envelope.data.get().as_bytes()))
}

/// The token endpoint's answer (not enveloped). Parsed defensively:
/// `token_type` comes as `bearer` or `Bearer`, `scope` as `null` or `""`,
/// and some clients saw it wrapped in `data`.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub account_username: Option<String>,
    #[serde(default, deserialize_with = "lenient_id")]
    pub account_id: Option<u64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("account_username", &self.account_username)
            .finish_non_exhaustive()
    }
}

/// Parses the token endpoint's success body.
pub fn parse_token_response(body: &[u8]) -> Option<TokenResponse> {
    #[derive(Deserialize)]
    struct Wrapped {
        data: TokenResponse,
    }
    serde_json::from_slice::<TokenResponse>(body)
        .ok()
        .or_else(|| serde_json::from_slice::<Wrapped>(body).ok().map(|w| w.data))
}

fn lenient_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(u64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Id>::deserialize(d)? {
        Some(Id::Number(n)) => Some(n),
        Some(Id::Text(s)) => s.parse().ok(),
        _ => None,
    })
}

/// Whether an image object says the caller favorited it.
pub fn image_is_favorite(data: &[u8]) -> Option<bool> {
    #[derive(Deserialize)]
    struct WithFavorite {
        favorite: Option<bool>,
    }
    serde_json::from_slice::<WithFavorite>(data)
        .ok()
        .map(|w| w.favorite.unwrap_or(false))
}

/// Imgur's answer to the favorite toggle: `"favorited"` or `"unfavorited"`.
pub fn favorite_toggle_state(data: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<String>(data).ok()?.as_str() {
        "favorited" => Some(true),
        "unfavorited" => Some(false),
        _ => None,
    }
}

/// What the ledger keeps of an image object.
#[derive(Debug, Default, Deserialize)]
pub struct ImageSummary {
    pub id: Option<String>,
    pub deletehash: Option<String>,
    pub link: Option<String>,
    #[serde(rename = "type")]
    pub media_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_id")]
    pub size: Option<u64>,
    #[serde(default)]
    pub mp4: Option<String>,
}

impl ImageSummary {
    /// Whether Imgur made a video of it.
    pub fn is_video(&self) -> bool {
        self.media_type
            .as_deref()
            .is_some_and(|t| t.starts_with("video/"))
            || self.mp4.as_deref().is_some_and(|m| !m.is_empty())
    }
}

/// Reads an image object's id, deletehash, link, type and size.
pub fn image_summary(data: &[u8]) -> ImageSummary {
    serde_json::from_slice(data).unwrap_or_default()
}

/// The new album's id and deletehash (`POST /3/album` answers just those).
pub fn album_created(data: &[u8]) -> Option<(String, Option<String>)> {
    #[derive(Deserialize)]
    struct Created {
        id: String,
        deletehash: Option<String>,
    }
    serde_json::from_slice::<Created>(data)
        .ok()
        .map(|c| (c.id, c.deletehash))
}

/// An album object's favorite state and image ids, in order.
#[derive(Debug, Default, Deserialize)]
pub struct AlbumSummary {
    #[serde(default)]
    pub favorite: Option<bool>,
    #[serde(default)]
    images: Option<Vec<WithImageId>>,
}

#[derive(Debug, Deserialize)]
struct WithImageId {
    id: String,
}

impl AlbumSummary {
    pub fn image_ids(&self) -> Vec<String> {
        self.images
            .iter()
            .flatten()
            .map(|image| image.id.clone())
            .collect()
    }
}

/// Reads an album object; `None` when it is not one.
pub fn album_summary(data: &[u8]) -> Option<AlbumSummary> {
    serde_json::from_slice(data).ok()
}

/// Adds `deletehash` to an album object that lacks it (Imgur shows it only
/// to the owner, yet just handed it over at creation).
pub fn with_deletehash(data: &[u8], deletehash: &str) -> Option<Bytes> {
    let mut album: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(data).ok()?;
    let missing = album.get("deletehash").is_none_or(|v| v.is_null());
    if missing {
        album.insert("deletehash".into(), deletehash.into());
    }
    serde_json::to_vec(&album).ok().map(Bytes::from)
}

/// How many items a list answer holds; `None` when it is not a list.
pub fn list_len(data: &[u8]) -> Option<usize> {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(data)
        .ok()
        .map(|items| items.len())
}

/// A count answer (`data: 42`).
pub fn count(data: &[u8]) -> Option<u64> {
    serde_json::from_slice(data).ok()
}

/// Sorts a non-2xx answer (or an unreadable 2xx) into an [`ErrorKind`].
///
/// Imgur's error bodies come in at least six shapes (see
/// `shared/reference/imgur-api.md` §2.2): a string `data.error`, an object
/// `data.error` with a `message`, a bare string `data`, the newer
/// `{"errors": [{"detail"}]}`, HTML pages, and empty bodies.
pub fn classify_error(
    status: u16,
    content_type: &str,
    body: &[u8],
    retry_after: Option<u64>,
    rate_limits: &RateLimits,
) -> ErrorKind {
    let message = error_message(body);
    let is_html = content_type.contains("html") || looks_like_html(body);
    let over_capacity = message
        .as_deref()
        .map(|m| m.to_ascii_lowercase().contains("over capacity"))
        .unwrap_or(false)
        || (is_html && html_says_over_capacity(body));
    let detail = message
        .clone()
        .unwrap_or_else(|| describe_unreadable(status, is_html, body.is_empty()));
    let wait = || {
        retry_after
            .or_else(|| rate_limits.reset_hint())
            .unwrap_or(DEFAULT_RETRY_AFTER_SECS)
    };

    if over_capacity {
        return ErrorKind::OverCapacity {
            message: detail,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
        };
    }
    if matches!(status, 400 | 403)
        && message
            .as_deref()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(BLOCKED_MESSAGE))
    {
        return ErrorKind::BlockedByImgur { message: detail };
    }
    match status {
        401 => ErrorKind::InvalidToken,
        403 if message.as_deref() == Some(INVALID_TOKEN_MESSAGE) => ErrorKind::InvalidToken,
        404 => ErrorKind::NotFound { message: detail },
        429 => ErrorKind::RateLimited {
            message: detail,
            retry_after: wait(),
        },
        400 if message.is_some() => ErrorKind::Rejected { message: detail },
        403 if message.is_some() => ErrorKind::Forbidden { message: detail },
        _ if message.is_none() => ErrorKind::InvalidResponse { detail },
        _ => ErrorKind::Upstream { message: detail },
    }
}

/// How Imgur's token endpoint refused a grant.
#[derive(Debug)]
pub enum TokenRefusal {
    /// The grant itself is no good: `invalid_grant`, Imgur's "Invalid refresh
    /// token" (or code, PIN). Only a new authorization helps.
    Grant,
    /// The app's credentials are wrong (`invalid_client`, "Invalid client",
    /// a bare 401): re-authorizing cannot help, fixing the settings does.
    ClientCredentials(String),
    /// Imgur is failing, rate limiting or blocking: not about the grant.
    Other(ErrorKind),
}

/// Sorts a non-2xx answer of `POST /oauth2/token`. Imgur wraps its errors in
/// the usual envelope (`data.error`); standard OAuth2 servers send
/// `{"error": "invalid_grant", "error_description": ..}`; both are read.
pub fn classify_token_error(
    status: u16,
    content_type: &str,
    body: &[u8],
    retry_after: Option<u64>,
    rate_limits: &RateLimits,
) -> TokenRefusal {
    let kind = classify_error(status, content_type, body, retry_after, rate_limits);
    if matches!(
        kind,
        ErrorKind::BlockedByImgur { .. }
            | ErrorKind::OverCapacity { .. }
            | ErrorKind::RateLimited { .. }
    ) || status >= 500
    {
        return TokenRefusal::Other(kind);
    }
    if !matches!(status, 400 | 401 | 403) {
        return TokenRefusal::Other(kind);
    }
    let oauth = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let code = v.get("error")?.as_str()?.to_owned();
            let description = v
                .get("error_description")
                .and_then(|d| d.as_str())
                .unwrap_or("");
            Some(format!("{code} {description}"))
        });
    let message = oauth.or_else(|| error_message(body)).unwrap_or_default();
    let lower = message.to_ascii_lowercase();
    let about_grant = [
        "invalid_grant",
        "refresh token",
        "refresh_token",
        "grant",
        "code",
        "pin",
    ]
    .iter()
    .any(|word| lower.contains(word));
    let about_client = lower.contains("invalid_client")
        || lower.contains("unauthorized_client")
        || (lower.contains("client") && !about_grant);
    if about_client || (status == 401 && !about_grant) {
        let shown = if message.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            message.trim().to_owned()
        };
        return TokenRefusal::ClientCredentials(shown);
    }
    TokenRefusal::Grant
}

/// A 400 or 403 that Imgur's CDN answered (`CDN-Error: yes`) is a block of
/// this network or region, whatever its body says.
pub fn cdn_refusal(status: u16, cdn_error: bool, kind: ErrorKind) -> ErrorKind {
    match kind {
        ErrorKind::OverCapacity { .. } | ErrorKind::BlockedByImgur { .. } => kind,
        _ if cdn_error && matches!(status, 400 | 403) => ErrorKind::BlockedByImgur {
            message: match &kind {
                ErrorKind::Rejected { message } | ErrorKind::Forbidden { message } => {
                    message.clone()
                }
                _ => BLOCKED_MESSAGE.to_owned(),
            },
        },
        _ => kind,
    }
}

/// Imgur's own words from an error body, whatever its shape.
fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| e.get("detail").or_else(|| e.get("status")).and_then(text))
            .collect();
        if !details.is_empty() {
            return Some(details.join("; "));
        }
    }
    let data = value.get("data")?;
    if let Some(s) = text(data) {
        return Some(s);
    }
    let error = data.get("error")?;
    text(error).or_else(|| error.get("message").and_then(text))
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(256)]).to_ascii_lowercase();
    let start = start.trim_start();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

fn html_says_over_capacity(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).to_ascii_lowercase();
    text.contains("over capacity") || text.contains("overloaded")
}

fn describe_unreadable(status: u16, is_html: bool, empty: bool) -> String {
    if empty {
        format!("Imgur answered HTTP {status} with an empty body")
    } else if is_html {
        format!("Imgur answered HTTP {status} with an HTML page instead of JSON")
    } else {
        format!("Imgur answered HTTP {status} with a body that is not its JSON format")
    }
}

/// Parses `Retry-After` given in seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let value = value.trim();
    value.parse::<u64>().ok().or_else(|| {
        let at = httpdate::parse_http_date(value).ok()?;
        Some(
            at.duration_since(SystemTime::now())
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    })
}

/// A reset header as seconds from now, accepting both seconds and epoch forms.
pub fn reset_seconds(value: &str) -> Option<u64> {
    let n: u64 = value.trim().parse().ok()?;
    if n >= EPOCH_THRESHOLD {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Some(n.saturating_sub(now))
    } else {
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, ct: &str, body: &str) -> ErrorKind {
        classify_error(status, ct, body.as_bytes(), None, &RateLimits::default())
    }

    #[test]
    fn every_error_shape_yields_imgurs_message() {
        let cases = [
            (
                "string error",
                r#"{"data":{"error":"Tag does not exist","request":"/3/x","method":"GET"},"success":false,"status":404}"#,
                "Tag does not exist",
            ),
            (
                "object error",
                r#"{"data":{"error":{"code":1003,"message":"File type invalid (1)","type":"Exception_UploadError"}},"success":false,"status":400}"#,
                "File type invalid (1)",
            ),
            (
                "bare string data",
                r#"{"data":"An error occurred","success":false,"status":400}"#,
                "An error occurred",
            ),
            (
                "errors array",
                r#"{"errors":[{"id":"legacy-api-1","code":"429","status":"Too Many Requests","detail":"Too Many Requests"}]}"#,
                "Too Many Requests",
            ),
        ];
        for (shape, body, expected) in cases {
            assert_eq!(
                error_message(body.as_bytes()).as_deref(),
                Some(expected),
                "{shape}"
            );
        }
    }

    #[test]
    fn only_the_invalid_token_403_asks_for_a_refresh() {
        let invalid = r#"{"data":{"error":"The access token provided is invalid.","request":"/3/image","method":"POST"},"success":false,"status":403}"#;
        assert!(matches!(
            kind(403, "application/json", invalid),
            ErrorKind::InvalidToken
        ));
        let capacity = r#"{"data":{"error":"Imgur is temporarily over capacity. Please try again later."},"success":false,"status":403}"#;
        assert!(matches!(
            kind(403, "application/json", capacity),
            ErrorKind::OverCapacity { .. }
        ));
        let credits =
            r#"{"data":{"error":"You have run out of credits"},"success":false,"status":403}"#;
        assert!(matches!(
            kind(403, "application/json", credits),
            ErrorKind::Forbidden { .. }
        ));
    }

    #[test]
    fn these_actions_are_forbidden_is_a_block_whatever_the_status_or_header() {
        let body =
            r#"{"data":{"error":"These actions are forbidden."},"success":false,"status":400}"#;
        for status in [400, 403] {
            assert!(matches!(
                kind(status, "application/json", body),
                ErrorKind::BlockedByImgur { .. }
            ));
        }
        let other = kind(403, "text/html", "<html>nope</html>");
        assert!(matches!(
            cdn_refusal(403, true, other),
            ErrorKind::BlockedByImgur { .. }
        ));
        let not_cdn = kind(
            403,
            "application/json",
            r#"{"data":{"error":"Permission denied"}}"#,
        );
        assert!(matches!(
            cdn_refusal(403, false, not_cdn),
            ErrorKind::Forbidden { .. }
        ));
    }

    #[test]
    fn album_and_image_objects_are_read() {
        let album =
            br#"{"id":"AbC","favorite":true,"images":[{"id":"x1"},{"id":"y2"}],"images_count":2}"#;
        let summary = album_summary(album).expect("an album");
        assert_eq!(summary.image_ids(), ["x1", "y2"]);
        assert_eq!(summary.favorite, Some(true));
        let merged = with_deletehash(br#"{"id":"AbC","deletehash":null}"#, "dh").expect("JSON");
        assert!(String::from_utf8_lossy(&merged).contains(r#""deletehash":"dh""#));
        let video = image_summary(br#"{"id":"v","type":"video/mp4","size":"12"}"#);
        assert!(video.is_video());
        assert_eq!(video.size, Some(12));
        assert_eq!(list_len(b"[1,2,3]"), Some(3));
        assert_eq!(count(b"7"), Some(7));
    }

    #[test]
    fn html_and_empty_bodies_are_sorted() {
        let capacity = "<html><head><title>Imgur overloaded. Hang in there with kittens</title></head><body>Imgur is over capacity!</body></html>";
        assert!(matches!(
            kind(503, "text/html", capacity),
            ErrorKind::OverCapacity { .. }
        ));
        let other = "<!DOCTYPE html><html><title>Imgur: the most awesome 429 page on the internet</title></html>";
        assert!(matches!(
            kind(500, "text/html", other),
            ErrorKind::InvalidResponse { .. }
        ));
        assert!(matches!(
            kind(503, "", ""),
            ErrorKind::InvalidResponse { .. }
        ));
        assert!(matches!(
            kind(
                500,
                "application/json",
                r#"{"data":"An error occurred","success":false,"status":500}"#
            ),
            ErrorKind::Upstream { .. }
        ));
    }

    #[test]
    fn reset_headers_accept_seconds_and_epochs() {
        assert_eq!(reset_seconds("3600"), Some(3600));
        let in_two_minutes = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
            + 120;
        let secs = reset_seconds(&in_two_minutes.to_string()).expect("a number");
        assert!((118..=120).contains(&secs), "{secs}");
        assert_eq!(parse_retry_after(" 37 "), Some(37));
    }

    #[test]
    fn token_response_is_parsed_leniently() {
        let body = br#"{"access_token":"a","expires_in":3600,"token_type":"Bearer","scope":"","refresh_token":"r","account_id":"135798223","account_username":"u"}"#;
        let token = parse_token_response(body).expect("parses");
        assert_eq!(token.account_id, Some(135798223));
        let wrapped = br#"{"data":{"access_token":"a","token_type":"bearer","scope":null}}"#;
        assert!(parse_token_response(wrapped).is_some());
    }

    proptest::proptest! {
        #[test]
        fn no_upstream_body_makes_the_parsers_panic(
            status in 100u16..600,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            content_type in "(application/json|text/html|)",
        ) {
            let _ = classify_error(status, &content_type, &body, None, &RateLimits::default());
            let _ = unwrap_data(&body);
            let _ = parse_token_response(&body);
            let _ = favorite_toggle_state(&body);
            let _ = image_summary(&body);
            let _ = album_summary(&body);
            let _ = album_created(&body);
            let _ = with_deletehash(&body, "dh");
        }

        #[test]
        fn no_header_value_makes_the_rate_limit_parsers_panic(value in ".{0,40}") {
            let _ = parse_retry_after(&value);
            let _ = reset_seconds(&value);
        }

        #[test]
        fn any_error_message_in_any_shape_reaches_the_detail(message in "[a-zA-Z0-9 .,]{1,60}") {
            let string = serde_json::json!({"data": {"error": message}, "success": false, "status": 400});
            let object = serde_json::json!({"data": {"error": {"message": message}}, "success": false, "status": 400});
            let errors = serde_json::json!({"errors": [{"detail": message}]});
            for body in [string, object, errors] {
                proptest::prop_assert_eq!(error_message(body.to_string().as_bytes()), Some(message.clone()));
            }
        }
    }

    #[test]
    fn token_endpoint_refusals_are_sorted_by_what_can_fix_them() {
        use super::TokenRefusal::*;
        let env = |status: u16, error: &str| {
            format!(
                r#"{{"data":{{"error":"{error}","request":"/oauth2/token","method":"POST"}},"success":false,"status":{status}}}"#
            )
        };
        let cases: Vec<(&str, u16, String, &str)> = vec![
            (
                "Imgur's invalid refresh token",
                400,
                env(400, "Invalid refresh token"),
                "grant",
            ),
            (
                "the 2020 mock text",
                400,
                env(
                    400,
                    "Refresh token doesn't exist or is invalid for the client",
                ),
                "grant",
            ),
            (
                "OAuth2 invalid_grant",
                400,
                r#"{"error":"invalid_grant"}"#.into(),
                "grant",
            ),
            (
                "OAuth2 invalid_client",
                401,
                r#"{"error":"invalid_client","error_description":"bad secret"}"#.into(),
                "client",
            ),
            (
                "Imgur's invalid client",
                401,
                env(401, "Invalid client"),
                "client",
            ),
            ("a bare 401", 401, String::new(), "client"),
            (
                "a 400 about the client id",
                400,
                env(400, "client_id is invalid"),
                "client",
            ),
            (
                "blocked",
                403,
                env(403, "These actions are forbidden."),
                "other",
            ),
            ("rate limited", 429, env(429, "Too Many Requests"), "other"),
            (
                "server error",
                500,
                env(500, "Internal server error"),
                "other",
            ),
        ];
        for (case, status, body, expected) in cases {
            let got = match classify_token_error(
                status,
                "application/json",
                body.as_bytes(),
                None,
                &RateLimits::default(),
            ) {
                Grant => "grant",
                ClientCredentials(_) => "client",
                Other(_) => "other",
            };
            assert_eq!(got, expected, "{case}");
        }
    }
}
