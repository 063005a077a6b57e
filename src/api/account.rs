//! The authorized account, its own images and albums, and Imgur's rate
//! limits as pixgate tracks them.

use super::schemas::{Account, Album, Image};
use super::{imgur_json, next_link, problem::copy_rate_limits, Problem};
use crate::gateway::{Gateway, ListPage};
use crate::imgur::BudgetView;
use crate::model::Paging;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

/// Which page of a list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 0.
    #[param(minimum = 0, maximum = 100000, example = 0)]
    page: Option<u32>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100, example = 50)]
    per_page: Option<u32>,
}

impl PageQuery {
    fn paging(&self) -> Result<Paging, Problem> {
        Ok(Paging::new(self.page, self.per_page)?)
    }
}

/// A page of Imgur's list, with `Link: <next>; rel="next"` when it was
/// full: a full page means there may be more (the last page of a list whose
/// length is a multiple of `per_page` is followed by an empty one).
fn list_page(path: &str, paging: Paging, page: &ListPage) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type("application/json");
    copy_rate_limits(&mut response, &page.reply.rate_limits);
    if page.full {
        next_link(&mut response, path, paging.next(), &[]);
    }
    response.body(page.reply.data.clone())
}

/// Your images
///
/// One page of the account's own images, as Imgur lists them (newest
/// first). `Link: <...>; rel="next"` (RFC 8288) is sent while the page is
/// full, so more may follow; a page shorter than `per_page` is the last.
#[utoipa::path(
    tag = "account",
    operation_id = "listAccountImages",
    params(PageQuery),
    responses(
        (status = 200, description = "The page (an empty array past the last page)", body = Vec<Image>,
            headers(("Link" = String, description = "`</v1/account/images?page=N&per_page=M>; rel=\"next\"` while the page is full"))),
        (status = 400, description = "Bad `page` or `per_page`", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/account/images")]
pub async fn account_images(
    gateway: web::Data<Gateway>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let paging = query.paging()?;
    let page = gateway.account_images(paging).await?;
    Ok(list_page("/v1/account/images", paging, &page))
}

/// How many images the account has.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"count": 42}))]
pub struct ImageCount {
    count: u64,
}

/// Count your images
///
/// How many images the account has, as Imgur counts them.
#[utoipa::path(
    tag = "account",
    operation_id = "countAccountImages",
    responses((status = 200, description = "The count", body = ImageCount))
)]
#[get("/account/images/count")]
pub async fn account_images_count(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    let reply = gateway.account_images_count().await?;
    let mut response = HttpResponse::Ok();
    copy_rate_limits(&mut response, &reply.rate_limits);
    Ok(response.json(ImageCount { count: reply.data }))
}

/// Your albums
///
/// One page of the account's albums (hidden and secret ones included),
/// with `Link: <...>; rel="next"` while the page is full.
#[utoipa::path(
    tag = "albums",
    operation_id = "listAccountAlbums",
    params(PageQuery),
    responses(
        (status = 200, description = "The page (an empty array past the last page)", body = Vec<Album>,
            headers(("Link" = String, description = "`</v1/account/albums?page=N&per_page=M>; rel=\"next\"` while the page is full"))),
        (status = 400, description = "Bad `page` or `per_page`", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/account/albums")]
pub async fn account_albums(
    gateway: web::Data<Gateway>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let paging = query.paging()?;
    let page = gateway.account_albums(paging).await?;
    Ok(list_page("/v1/account/albums", paging, &page))
}

/// Every provider's call budget, by provider.
#[derive(Serialize, ToSchema)]
pub struct RateLimitsView {
    /// Imgur's limits: `user` (per hour; per IP without a login), `client`
    /// (the app's, per day) and `post` (POSTs per hour).
    imgur: BudgetView,
    /// Flickr's key budget (3,600 calls an hour), when FLICKR_API_KEY is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    flickr: Option<FlickrBudget>,
}

/// The calls pixgate made with the Flickr key in the last hour. Flickr
/// sends no rate-limit headers, so pixgate counts every call it sends.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"limit": 3600, "used": 12, "remaining": 3588, "frees_in": 3400}))]
pub struct FlickrBudget {
    /// Calls an hour Flickr allows a key.
    limit: u32,
    /// Calls made in the last hour.
    used: u32,
    remaining: u32,
    /// Seconds until the oldest counted calls leave the hour; `null` when none are counted.
    frees_in: Option<u64>,
}

/// Rate limits and the credit reserve
///
/// pixgate's own view of Imgur's credit budget, kept from the rate-limit
/// headers of every answer (and Imgur's `/3/credits` when it knows nothing
/// yet): each limit, what remains (the lowest count Imgur reported in the
/// current window), calls in flight, the reset, and the credits pixgate
/// keeps in reserve (`PIXGATE_CREDIT_RESERVE`). A call that would bring a
/// limit under its reserve is answered 429 `credit-reserve` without
/// reaching Imgur (an upload counts 10 credits).
#[utoipa::path(
    tag = "account",
    operation_id = "getRateLimits",
    responses(
        (status = 200, description = "The budget, by provider", body = RateLimitsView)
    )
)]
#[get("/rate-limits")]
pub async fn rate_limits(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    let imgur = gateway.rate_limits().await?;
    let flickr = gateway.flickr_budget().map(|b| FlickrBudget {
        limit: b.limit,
        used: b.used,
        remaining: b.remaining,
        frees_in: b.frees_in_secs,
    });
    Ok(HttpResponse::Ok().json(RateLimitsView { imgur, flickr }))
}
