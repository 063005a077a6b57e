//! The authorized account and Imgur's rate limits.

use super::schemas::{Account, Credits};
use super::{imgur_json, Problem};
use crate::gateway::Gateway;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};

/// The authorized account
///
/// Imgur's account object for the user whose refresh token pixgate holds.
#[utoipa::path(
    tag = "account",
    operation_id = "getAccount",
    responses(
        (status = 200, description = "The account", body = Account)
    )
)]
#[get("/account")]
pub async fn account(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    let reply = gateway.account().await?;
    Ok(imgur_json(StatusCode::OK, &reply))
}

/// Imgur's rate limits
///
/// Imgur's `/3/credits`: the user's and the app's remaining credits.
#[utoipa::path(
    tag = "account",
    operation_id = "getRateLimits",
    responses(
        (status = 200, description = "Remaining credits", body = Credits)
    )
)]
#[get("/rate-limits")]
pub async fn rate_limits(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    let reply = gateway.rate_limits().await?;
    Ok(imgur_json(StatusCode::OK, &reply))
}
