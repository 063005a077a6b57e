//! The optional API key, `Authorization: Bearer <PIXGATE_API_KEY>`: one
//! guard in front of every route but the few that must stay open.

use super::{Problem, ProblemKind};
use crate::secret::Secret;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::ResponseError;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured key, kept only as a SHA-256 digest. Comparing fixed-length
/// digests in constant time leaks neither the key nor its length.
#[derive(Clone)]
pub struct ApiKey {
    digest: Option<[u8; 32]>,
}

impl ApiKey {
    /// `None` lets every request through.
    pub fn new(key: Option<&Secret>) -> Self {
        Self {
            digest: key.map(|k| digest(k.expose())),
        }
    }

    fn admits(&self, presented: Option<&str>) -> bool {
        match (self.digest, presented) {
            (None, _) => true,
            (Some(expected), Some(key)) => bool::from(expected.ct_eq(&digest(key))),
            (Some(_), None) => false,
        }
    }
}

/// Paths open without the key: the probes; Imgur's redirect back and the
/// token-flow page's call, which the login's one-time `state` protects (the
/// browser coming back from Imgur has no key to send); and the docs, so
/// that a browser can load them and authorize there. Every other path, an
/// unknown one included, needs the key.
const OPEN_PATHS: [&str; 9] = [
    "/healthz",
    "/readyz",
    "/auth/callback",
    "/flickr/auth/callback",
    "/auth/callback.js",
    "/auth/token",
    "/",
    "/docs",
    "/openapi.json",
];

/// Whether a request for `path` needs the key (when one is configured).
pub fn needs_key(path: &str) -> bool {
    !(OPEN_PATHS.contains(&path) || path.starts_with("/docs/"))
}

/// Where a browser navigation carries the key, since it cannot set headers.
const KEY_IN_QUERY_PATHS: [&str; 2] = ["/auth/login", "/flickr/auth/login"];

#[derive(serde::Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

fn bearer(headers: &header::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

fn unauthorized(from_query: bool) -> Problem {
    let how = if from_query {
        "add `?key=<PIXGATE_API_KEY>` to the address, or send `Authorization: Bearer <PIXGATE_API_KEY>`"
    } else {
        "send the gateway's API key as `Authorization: Bearer <PIXGATE_API_KEY>`"
    };
    Problem::new(ProblemKind::Unauthorized, how)
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Refuses a request that needs the key (see [`needs_key`]) and does not
/// carry it, with 401 (as a response, so outer middleware still adds its
/// headers). On `/auth/login` the key may come in the `key` query
/// parameter instead; only the path is logged, never the query.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(api_key) = req.app_data::<web::Data<ApiKey>>() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if api_key.digest.is_none() || !needs_key(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let query_key = KEY_IN_QUERY_PATHS
        .contains(&req.path())
        .then(|| web::Query::<KeyQuery>::from_query(req.query_string()).ok())
        .flatten()
        .and_then(|query| query.into_inner().key);
    let presented = query_key.as_deref().or_else(|| bearer(req.headers()));
    if api_key.admits(presented) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refusal = unauthorized(query_key.is_some()).error_response();
    Ok(req.into_response(refusal).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_key_is_admitted() {
        let key = ApiKey::new(Some(&Secret::new("s3cret")));
        assert!(key.admits(Some("s3cret")));
        assert!(!key.admits(Some("s3cret ")));
        assert!(!key.admits(Some("s3cre")));
        assert!(!key.admits(None));
        assert!(ApiKey::new(None).admits(None));
    }

    #[test]
    fn only_the_probes_the_login_return_and_the_docs_are_open() {
        for open in [
            "/healthz",
            "/readyz",
            "/auth/callback",
            "/auth/callback.js",
            "/auth/token",
            "/",
            "/docs",
            "/docs/",
            "/docs/swagger-ui.css",
            "/openapi.json",
        ] {
            assert!(!needs_key(open), "{open}");
        }
        for guarded in [
            "/metrics",
            "/auth/status",
            "/auth/login",
            "/auth/pin",
            "/auth/refresh-token",
            "/auth/logout",
            "/v1/account",
            "/v1/images",
            "/nope",
            "/healthz/",
            "/docsx",
            "/openapi.json/x",
        ] {
            assert!(needs_key(guarded), "{guarded}");
        }
    }
}
