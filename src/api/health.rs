//! Liveness and readiness.

use super::{Problem, ProblemKind};
use crate::gateway::Gateway;
use crate::imgur::Mode;
use crate::metrics::Metrics;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// The process is serving.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// The gateway can serve requests.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ready", "mode": "user"}))]
pub struct Readiness {
    #[schema(example = "ready")]
    status: &'static str,
    /// `user` when a user access token is available, `anonymous` when no
    /// user authorization is configured.
    #[schema(example = "user")]
    mode: &'static str,
}

/// Liveness
///
/// Answers 200 whenever the process serves.
#[utoipa::path(
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "The process is serving", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Metrics
///
/// Prometheus text format: requests by route and status with latency
/// histograms, calls to Imgur by endpoint and status with latency, token
/// refreshes, favorites cache events, and Imgur's remaining rate limits.
#[utoipa::path(
    tag = "health",
    operation_id = "metrics",
    responses((status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String))
)]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

/// Readiness
///
/// 200 when a user access token can be had (refreshing it if needed), or in
/// anonymous mode (no refresh token configured); 503 otherwise, e.g. after
/// Imgur rejected the refresh token or the app's client id or secret, or
/// while Redis (PIXGATE_REDIS_URL) is unreachable.
#[utoipa::path(
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "No access token can be had, or Redis (PIXGATE_REDIS_URL) is unreachable", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/readyz")]
pub async fn readyz(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    let mode = gateway
        .readiness()
        .await
        .map_err(|e| Problem::new(ProblemKind::NotReady, e.to_string()))?;
    let mode = match mode {
        Mode::User => "user",
        Mode::Anonymous => "anonymous",
    };
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready",
        mode,
    }))
}
