//! The edge checks every request passes before any handler, CORS or the
//! API key see it: the `Host` check (DNS rebinding) and the cross-origin
//! protection (CSRF), whose rules are in [`rules`]; and the headers that
//! stop a page from framing the gateway's pages (clickjacking).

pub mod rules;

use super::{Problem, ProblemKind};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use rules::{AllowedHosts, TrustedOrigins};

/// Paths that answer whatever the `Host`: probes of load balancers and
/// orchestrators, which often call by an address the gateway cannot know.
pub const ANY_HOST_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// The Content-Security-Policy of Swagger UI under `/docs/`: its own
/// scripts and styles (it sets inline styles, and icons are `data:` URLs),
/// calls to this origin only, and never in a frame.
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Every other answer without a policy of its own (JSON, redirects,
/// problems): nothing to load, and never in a frame.
const DEFAULT_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The rules the edge applies, built once from the configuration.
pub struct EdgeRules {
    pub hosts: AllowedHosts,
    pub origins: TrustedOrigins,
}

impl EdgeRules {
    fn check(&self, req: &ServiceRequest) -> Result<(), Problem> {
        if !ANY_HOST_PATHS.contains(&req.path()) {
            self.hosts.check(req.headers()).map_err(|refusal| {
                tracing::warn!(
                    host = ?req.headers().get(header::HOST),
                    "refused a request for a host this gateway does not answer to"
                );
                Problem::new(ProblemKind::HostNotAllowed, refusal.detail())
            })?;
        }
        self.origins
            .check(req.method(), req.headers())
            .map_err(|refusal| {
                tracing::warn!(
                    origin = refusal.origin.as_deref().unwrap_or("-"),
                    sec_fetch_site = refusal.sec_fetch_site.as_deref().unwrap_or("-"),
                    "refused an unsafe request from a web page of another origin"
                );
                Problem::new(ProblemKind::CrossOriginRefused, refusal.detail())
            })
    }
}

/// Refuses, with a 403 problem, a request for a host the gateway does not
/// answer to or an unsafe request from another origin; nothing inside runs.
pub async fn check_edge(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<EdgeRules>>() {
        Some(rules) => rules.check(&req),
        // Fail closed: an application built without its rules serves nothing.
        None => Err(Problem::new(
            ProblemKind::Internal,
            "the gateway was built without its edge rules",
        )),
    };
    match verdict {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(problem) => Ok(req
            .into_response(problem.error_response())
            .map_into_right_body()),
    }
}

/// Adds to every answer, errors included, the headers that keep it out of
/// other pages' frames and stop content sniffing: `X-Frame-Options: DENY`,
/// `X-Content-Type-Options: nosniff`, and a Content-Security-Policy with
/// `frame-ancestors 'none'` where the answer has none of its own (the login
/// pages bring a stricter one; Swagger UI gets [`DOCS_CONTENT_SECURITY_POLICY`]).
pub async fn frame_protection(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policy = if req.path().starts_with("/docs/") {
        DOCS_CONTENT_SECURITY_POLICY
    } else {
        DEFAULT_CONTENT_SECURITY_POLICY
    };
    super::middleware::edit_headers(next.call(req).await, |headers| {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(policy),
            );
        }
    })
}
