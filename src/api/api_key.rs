//! The optional API key on `/v1` and the `/auth` actions:
//! `Authorization: Bearer <PIXGATE_API_KEY>`.

use super::{Problem, ProblemKind};
use crate::secret::Secret;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::ResponseError;
use actix_web::{web, HttpRequest};

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

impl ApiKey {
    /// Checks the key in `Authorization: Bearer`, or the one a browser
    /// navigation carried in the `key` query parameter (`query_key`; it
    /// cannot set headers). Only the path is logged, never the query.
    pub fn check(&self, req: &HttpRequest, query_key: Option<&str>) -> Result<(), Problem> {
        if self.admits(query_key.or_else(|| bearer(req.headers()))) {
            Ok(())
        } else {
            Err(unauthorized(query_key.is_some()))
        }
    }
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

/// Middleware on `/v1`: refuses a missing or wrong key with 401 (as a
/// response, so outer middleware still adds its headers).
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let admitted = req
        .app_data::<web::Data<ApiKey>>()
        .map(|key| key.admits(bearer(req.headers())))
        .unwrap_or(true);
    if !admitted {
        let refusal = unauthorized(false).error_response();
        return Ok(req.into_response(refusal).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
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
}
