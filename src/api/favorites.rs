//! The account's favorites (cached) and favoriting an image.

use super::schemas::FavoriteItem;
use super::{problem::copy_rate_limits, Problem};
use crate::cache::CacheStatus;
use crate::gateway::{FavoritesPage, Gateway};
use crate::imgur::Reply;
use crate::model::{FavoritesSort, ImageId};
use actix_web::http::header;
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The last page number accepted (far past any real account's favorites).
const MAX_PAGE: u32 = 100_000;

/// Which favorites page.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FavoritesQuery {
    /// Page number, from 0.
    #[param(minimum = 0, maximum = 100000, example = 0)]
    page: Option<u32>,
    /// `newest` (default) or `oldest` first.
    #[param(inline)]
    sort: Option<FavoritesSort>,
}

/// An image's favorite state after the call.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "aB3dE5g", "favorited": true}))]
pub struct FavoriteState {
    id: String,
    favorited: bool,
}

/// List favorites
///
/// One page of the authorized account's favorites, newest or oldest first.
/// Pages are cached for `PIXGATE_FAVORITES_TTL` seconds: `X-Cache` says
/// `HIT`, `MISS`, or `STALE` (an expired page served because Imgur failed).
/// Send `Cache-Control: no-cache` to bypass and refresh the cache, and
/// `If-None-Match` with the `ETag` to get a 304 when nothing changed.
#[utoipa::path(
    tag = "favorites",
    operation_id = "listFavorites",
    params(FavoritesQuery),
    responses(
        (status = 200, description = "The page (an empty array past the last page)", body = Vec<FavoriteItem>,
            headers(("X-Cache" = String, description = "HIT, MISS or STALE"), ("ETag" = String, description = "Entity tag of the page"))),
        (status = 304, description = "The page has not changed since the `If-None-Match` ETag",
            headers(("X-Cache" = String, description = "HIT, MISS or STALE"), ("ETag" = String, description = "Entity tag of the page"))),
        (status = 400, description = "Bad `page` or `sort`", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/favorites")]
pub async fn list_favorites(
    gateway: web::Data<Gateway>,
    query: web::Query<FavoritesQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let page = query.page.unwrap_or(0);
    if page > MAX_PAGE {
        return Err(Problem::invalid(format!(
            "\"page\" must be at most {MAX_PAGE}"
        )));
    }
    let sort = query.sort.unwrap_or_default();
    let result = gateway.favorites(page, sort, wants_no_cache(&req)).await?;
    Ok(page_response(&req, &result))
}

/// A cached favorites page (Imgur's or Flickr's) as the client asked for
/// it: 200 with the body, or 304 when `If-None-Match` names its ETag;
/// always with `ETag` and `X-Cache`, and with the upstream's rate-limit
/// headers on a `MISS` (the only answer that just read them).
pub(super) fn page_response(req: &HttpRequest, result: &FavoritesPage) -> HttpResponse {
    let cached = &result.page;
    let not_modified = if_none_match(req, &cached.etag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, cached.etag.as_str()))
        .insert_header(("X-Cache", result.status.as_str()));
    if result.status == CacheStatus::Miss {
        copy_rate_limits(&mut response, &cached.rate_limits);
    }
    if not_modified {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(cached.body.clone())
}

pub(super) fn wants_no_cache(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-cache"))
}

/// Whether `If-None-Match` names `etag` (weak comparison, `*` included).
pub(super) fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// Favorite an image
///
/// Makes sure the image is a favorite of the account; calling it again
/// changes nothing.
#[utoipa::path(
    tag = "favorites",
    operation_id = "addFavorite",
    params(("id" = String, Path, description = "Image id", pattern = "^[A-Za-z0-9]{1,32}$")),
    responses(
        (status = 200, description = "The image is a favorite", body = FavoriteState)
    )
)]
#[put("/images/{id}/favorite")]
pub async fn add_favorite(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = ImageId::parse(&id)?;
    let reply = gateway.set_favorite(&id, true).await?;
    Ok(favorite_state(&id, reply))
}

/// Unfavorite an image
///
/// Makes sure the image is not a favorite of the account; calling it again
/// changes nothing.
#[utoipa::path(
    tag = "favorites",
    operation_id = "removeFavorite",
    params(("id" = String, Path, description = "Image id", pattern = "^[A-Za-z0-9]{1,32}$")),
    responses(
        (status = 200, description = "The image is not a favorite", body = FavoriteState)
    )
)]
#[delete("/images/{id}/favorite")]
pub async fn remove_favorite(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = ImageId::parse(&id)?;
    let reply = gateway.set_favorite(&id, false).await?;
    Ok(favorite_state(&id, reply))
}

/// Toggle favorite
///
/// Imgur's native toggle: favorites the image if it was not, unfavorites it
/// if it was, and answers the new state.
#[utoipa::path(
    tag = "favorites",
    operation_id = "toggleFavorite",
    params(("id" = String, Path, description = "Image id", pattern = "^[A-Za-z0-9]{1,32}$")),
    responses(
        (status = 200, description = "The new state", body = FavoriteState)
    )
)]
#[post("/images/{id}/favorite")]
pub async fn toggle_favorite(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = ImageId::parse(&id)?;
    let reply = gateway.toggle_favorite(&id).await?;
    Ok(favorite_state(&id, reply))
}

fn favorite_state(id: &ImageId, reply: Reply<bool>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    copy_rate_limits(&mut response, &reply.rate_limits);
    response.json(FavoriteState {
        id: id.to_string(),
        favorited: reply.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_query_string_parses_or_is_refused_without_panicking(query in "\\PC{0,80}") {
            let _ = web::Query::<FavoritesQuery>::from_query(&query);
        }

        #[test]
        fn page_and_sort_parse_from_their_text(page in 0u32..=MAX_PAGE, oldest in proptest::bool::ANY) {
            let sort = if oldest { "oldest" } else { "newest" };
            let parsed = web::Query::<FavoritesQuery>::from_query(&format!("page={page}&sort={sort}"))
                .expect("valid");
            proptest::prop_assert_eq!(parsed.page, Some(page));
            proptest::prop_assert_eq!(parsed.sort.map(FavoritesSort::as_str), Some(sort));
        }
    }
}
