//! The upload ledger: every image and album made through pixgate.

use super::{next_link, Problem};
use crate::gateway::Gateway;
use crate::ledger::Entry;
use crate::model::Paging;
use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

/// Which entries of the ledger.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadsQuery {
    /// `true`: only anonymous items; `false`: only the account's; absent: all.
    anonymous: Option<bool>,
    /// Page number, from 0.
    #[param(minimum = 0, maximum = 100000, example = 0)]
    page: Option<u32>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100, example = 50)]
    per_page: Option<u32>,
}

/// The upload ledger
///
/// Every image uploaded and album created through pixgate, newest first,
/// with its deletehash (for an anonymous item the only way to delete it;
/// `DELETE /v1/images/{id}` and `DELETE /v1/albums/{id}` use it for you),
/// and when it was deleted through pixgate. Kept in SQLite at `PIXGATE_DB`,
/// across restarts; `pixgate uploads` prints the same list. `Link: <...>;
/// rel="next"` is sent while more entries follow.
#[utoipa::path(
    tag = "uploads",
    operation_id = "listUploads",
    params(UploadsQuery),
    responses(
        (status = 200, description = "The page (an empty array past the last page)", body = Vec<Entry>,
            headers(("Link" = String, description = "`</v1/uploads?page=N&per_page=M>; rel=\"next\"` while more entries follow"))),
        (status = 400, description = "Bad `anonymous`, `page` or `per_page`", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/uploads")]
pub async fn list_uploads(
    gateway: web::Data<Gateway>,
    query: web::Query<UploadsQuery>,
) -> Result<HttpResponse, Problem> {
    let paging = Paging::new(query.page, query.per_page)?;
    let listed = gateway.uploads(query.anonymous, paging).await?;
    let mut response = HttpResponse::Ok();
    if listed.more {
        let filter = query
            .anonymous
            .map(|a| ("anonymous", a.to_string()))
            .into_iter()
            .collect::<Vec<_>>();
        next_link(&mut response, "/v1/uploads", paging.next(), &filter);
    }
    Ok(response.json(listed.entries))
}
