//! Flickr photos: upload, read, update, delete, favoriting, and the
//! user's favorites (cached like Imgur's).

use crate::api::images::{
    content_length, non_empty, read_file, read_text, FormFields, ImageUpdateBody,
};
use crate::api::{Problem, ProblemKind};
use crate::flickr::{MetaUpdate, PageRequest, Photo, PhotoId, SafetyLevel, UploadFields};
use crate::gateway::{FlickrUpload, Gateway};
use crate::model::ImageUpdate;
use crate::startup::ClientTimeout;
use crate::upload::{Intake, SpoolError, Upload, UploadStorage};
use actix_multipart::{Field, Multipart};
use actix_web::http::header;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Flickr's limit for a photo.
pub const PHOTO_MAX_BYTES: u64 = 200 * 1024 * 1024;
/// Room for the multipart framing and the text fields around a maximal photo.
const MULTIPART_OVERHEAD_BYTES: u64 = 1024 * 1024;
/// A Flickr upload has at most this many parts (the photo and 8 fields).
const MAX_MULTIPART_FIELDS: usize = 9;

/// The multipart form of a Flickr upload (documentation only; the handler
/// reads the parts as they stream).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FlickrUploadForm {
    /// The photo file, up to 200 MiB.
    #[schema(value_type = String, format = Binary)]
    photo: Vec<u8>,
    #[schema(max_length = 65536)]
    title: Option<String>,
    /// May contain some limited HTML.
    #[schema(max_length = 65536)]
    description: Option<String>,
    /// Space-separated; quote a tag with spaces.
    #[schema(max_length = 65536)]
    tags: Option<String>,
    /// `true`/`false` (or `1`/`0`); left out: the user's default.
    #[schema(value_type = Option<String>, pattern = "^(true|false|1|0)?$")]
    is_public: Option<bool>,
    #[schema(value_type = Option<String>, pattern = "^(true|false|1|0)?$")]
    is_friend: Option<bool>,
    #[schema(value_type = Option<String>, pattern = "^(true|false|1|0)?$")]
    is_family: Option<bool>,
    /// `1` safe, `2` moderate, `3` restricted.
    #[schema(value_type = Option<String>, pattern = "^[123]?$")]
    safety_level: Option<u8>,
    /// `true` (or `1`) hides the photo from public searches.
    #[schema(value_type = Option<String>, pattern = "^(true|false|1|0)?$")]
    hidden: Option<bool>,
}

/// A photo's favorite state after the call.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "53012345678", "favorited": true}))]
pub struct FlickrFavoriteState {
    id: String,
    favorited: bool,
}

/// Which favorites page.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlickrFavoritesQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 100000, example = 1)]
    page: Option<u32>,
    /// Photos per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500, example = 100)]
    per_page: Option<u32>,
}

/// The last page number accepted.
const MAX_PAGE: u32 = 100_000;

fn photo_id(raw: &str) -> Result<PhotoId, Problem> {
    Ok(PhotoId::parse(raw)?)
}

/// Upload a photo to Flickr
///
/// `multipart/form-data` with the `photo` file (up to 200 MiB) and the
/// optional `title`, `description`, `tags`, `is_public`, `is_friend`,
/// `is_family`, `safety_level` and `hidden`; a field left out takes the
/// user's Flickr default. The photo is spooled (on disk past 2 MiB, within
/// `PIXGATE_UPLOAD_BUDGET_BYTES`) and streamed to Flickr, signed with
/// every text field. Answers 201 with the photo.
#[utoipa::path(
    tag = "flickr",
    operation_id = "flickrUploadPhoto",
    request_body(content = FlickrUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Uploaded", body = Photo,
            headers(("Location" = String, description = "/flickr/v1/photos/{id} of the new photo"))),
        (status = 400, description = "A missing photo, an unknown, duplicate or invalid field (nothing reached Flickr)", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The client paused longer than PIXGATE_CLIENT_TIMEOUT while sending the body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A photo over 200 MiB; Flickr received nothing", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart/form-data", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/flickr/v1/photos")]
pub async fn flickr_upload(
    gateway: web::Data<Gateway>,
    storage: web::Data<UploadStorage>,
    client_timeout: web::Data<ClientTimeout>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    // Before the body: an unconfigured or unauthorized gateway reads none of it.
    if !gateway.flickr_auth_status()?.authorized {
        return Err(crate::gateway::FlickrFailure::NotAuthorized.into());
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("multipart/form-data") {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            "send multipart/form-data with a \"photo\" file",
        ));
    }
    let len = content_length(&req);
    if len.is_some_and(|len| len > PHOTO_MAX_BYTES + MULTIPART_OVERHEAD_BYTES) {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            "the request is larger than Flickr's 200 MiB photo limit",
        ));
    }
    // The whole body up front when its length is known, else each chunk.
    let intake = Intake::new(&storage, len)?;
    let multipart = Multipart::new(req.headers(), payload);
    let upload = read_upload(multipart, client_timeout.0, intake).await?;
    let photo = gateway.flickr_upload(upload).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/flickr/v1/photos/{}", photo.id)))
        .json(photo))
}

/// Reads the parts through `intake`: the photo spooled whole, the text
/// fields checked; anything wrong is a 400 before Flickr sees a byte.
async fn read_upload(
    multipart: Multipart,
    pause: Duration,
    mut intake: Intake,
) -> Result<FlickrUpload, Problem> {
    let mut fields = UploadFields::default();
    let mut photo = None;
    let mut form = FormFields::new(multipart, pause, MAX_MULTIPART_FIELDS);
    while let Some((name, mut field)) = form.next().await? {
        // HTML forms (Swagger UI's too) send every field, the unused ones empty.
        match name.as_str() {
            "photo" => photo = spool_photo(&mut field, pause, &mut intake).await?,
            "title" => fields.title = non_empty(read_text(&name, &mut field, pause).await?),
            "description" => {
                fields.description = non_empty(read_text(&name, &mut field, pause).await?)
            }
            "tags" => fields.tags = non_empty(read_text(&name, &mut field, pause).await?),
            "is_public" => fields.is_public = flag(&name, &mut field, pause).await?,
            "is_friend" => fields.is_friend = flag(&name, &mut field, pause).await?,
            "is_family" => fields.is_family = flag(&name, &mut field, pause).await?,
            "hidden" => fields.hidden = flag(&name, &mut field, pause).await?,
            "safety_level" => {
                fields.safety_level = match read_text(&name, &mut field, pause).await?.trim() {
                    "" => None,
                    "1" => Some(SafetyLevel::Safe),
                    "2" => Some(SafetyLevel::Moderate),
                    "3" => Some(SafetyLevel::Restricted),
                    _ => return Err(Problem::invalid("\"safety_level\" must be 1, 2 or 3")),
                }
            }
            other => {
                return Err(Problem::invalid(format!(
                    "unknown field \"{other}\"; fields are photo, title, description, tags, is_public, is_friend, is_family, safety_level, hidden"
                )))
            }
        }
    }
    let photo =
        photo.ok_or_else(|| Problem::invalid("send the photo as the \"photo\" file field"))?;
    Ok(FlickrUpload { fields, photo })
}

/// Spools the photo part whole (see [`FlickrUpload`] for why it does not
/// go live); `None` for an unused form field.
async fn spool_photo(
    field: &mut Field,
    pause: Duration,
    intake: &mut Intake,
) -> Result<Option<Upload>, Problem> {
    let limit = PHOTO_MAX_BYTES;
    read_file(
        "photo",
        field,
        pause,
        intake,
        limit,
        false,
        photo_spool_error,
    )
    .await
}

fn photo_spool_error(error: SpoolError) -> Problem {
    match error {
        SpoolError::TooLarge { .. } => Problem::new(
            ProblemKind::PayloadTooLarge,
            "the photo is larger than Flickr's 200 MiB limit",
        ),
        other => other.into(),
    }
}

async fn flag(name: &str, field: &mut Field, pause: Duration) -> Result<Option<bool>, Problem> {
    match read_text(name, field, pause).await?.trim() {
        "" => Ok(None),
        "1" | "true" => Ok(Some(true)),
        "0" | "false" => Ok(Some(false)),
        _ => Err(Problem::invalid(format!(
            "\"{name}\" must be true, false, 1 or 0"
        ))),
    }
}

/// A Flickr photo
///
/// `flickr.photos.getInfo`, as the authorized user.
#[utoipa::path(
    tag = "flickr",
    operation_id = "flickrGetPhoto",
    params(("id" = String, Path, description = "Flickr photo id", pattern = "^[0-9]{1,20}$")),
    responses((status = 200, description = "The photo", body = Photo))
)]
#[get("/flickr/v1/photos/{id}")]
pub async fn flickr_get_photo(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    gateway.flickr_auth_status()?;
    let id = photo_id(&id)?;
    Ok(HttpResponse::Ok().json(gateway.flickr_photo(&id).await?))
}

/// Update a Flickr photo
///
/// Sets the title and/or description (`flickr.photos.setMeta`; a field
/// left out keeps its value) and answers the photo afterwards.
#[utoipa::path(
    tag = "flickr",
    operation_id = "flickrUpdatePhoto",
    params(("id" = String, Path, description = "Flickr photo id", pattern = "^[0-9]{1,20}$")),
    request_body(content = ImageUpdateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated photo", body = Photo),
        (status = 400, description = "Bad id, bad JSON, or neither field sent", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/flickr/v1/photos/{id}")]
pub async fn flickr_update_photo(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
    body: web::Json<ImageUpdateBody>,
) -> Result<HttpResponse, Problem> {
    gateway.flickr_auth_status()?;
    let id = photo_id(&id)?;
    let body = body.into_inner();
    let checked = ImageUpdate::new(body.title, body.description)?;
    let update = MetaUpdate::new(checked.title, checked.description)?;
    Ok(HttpResponse::Ok().json(gateway.update_flickr_photo(&id, &update).await?))
}

/// Delete a Flickr photo
///
/// `flickr.photos.delete`; needs a token with `delete` perms.
#[utoipa::path(
    tag = "flickr",
    operation_id = "flickrDeletePhoto",
    params(("id" = String, Path, description = "Flickr photo id", pattern = "^[0-9]{1,20}$")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/flickr/v1/photos/{id}")]
pub async fn flickr_delete_photo(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    gateway.flickr_auth_status()?;
    let id = photo_id(&id)?;
    gateway.delete_flickr_photo(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Favorite a Flickr photo
///
/// Makes sure the photo is a favorite of the user; calling it again
/// changes nothing (Flickr's "already in favorites" is a success).
#[utoipa::path(
    tag = "flickr",
    operation_id = "flickrAddFavorite",
    params(("id" = String, Path, description = "Flickr photo id", pattern = "^[0-9]{1,20}$")),
    responses(
        (status = 200, description = "The photo is a favorite", body = FlickrFavoriteState),
        (status = 403, description = "The photo is the user's own, or the user cannot see it (`forbidden`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/flickr/v1/photos/{id}/favorite")]
pub async fn flickr_add_favorite(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    set_favorite(&gateway, &id, true).await
}

/// Unfavorite a Flickr photo
///
/// Makes sure the photo is not a favorite of the user; calling it again
/// changes nothing (Flickr's "not in favorites" is a success).
#[utoipa::path(
    tag = "flickr",
    operation_id = "flickrRemoveFavorite",
    params(("id" = String, Path, description = "Flickr photo id", pattern = "^[0-9]{1,20}$")),
    responses((status = 200, description = "The photo is not a favorite", body = FlickrFavoriteState))
)]
#[delete("/flickr/v1/photos/{id}/favorite")]
pub async fn flickr_remove_favorite(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    set_favorite(&gateway, &id, false).await
}

async fn set_favorite(
    gateway: &Gateway,
    id: &str,
    favorited: bool,
) -> Result<HttpResponse, Problem> {
    gateway.flickr_auth_status()?;
    let id = photo_id(id)?;
    gateway.set_flickr_favorite(&id, favorited).await?;
    Ok(HttpResponse::Ok().json(FlickrFavoriteState {
        id: id.to_string(),
        favorited,
    }))
}

/// List Flickr favorites
///
/// One page of the user's Flickr favorites (`flickr.favorites.getList`),
/// newest first. Cached like the Imgur favorites: `X-Cache` says `HIT`,
/// `MISS` or `STALE` (an expired page served because Flickr failed);
/// `Cache-Control: no-cache` refreshes; `If-None-Match` with the `ETag`
/// gives a 304. Favoriting through pixgate invalidates the cache.
#[utoipa::path(
    tag = "flickr",
    operation_id = "flickrListFavorites",
    params(FlickrFavoritesQuery),
    responses(
        (status = 200, description = "The page", body = crate::flickr::FavoritesPage,
            headers(("X-Cache" = String, description = "HIT, MISS or STALE"), ("ETag" = String, description = "Entity tag of the page"))),
        (status = 304, description = "The page has not changed since the `If-None-Match` ETag",
            headers(("X-Cache" = String, description = "HIT, MISS or STALE"), ("ETag" = String, description = "Entity tag of the page"))),
        (status = 400, description = "Bad `page` or `per_page`", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/flickr/v1/favorites")]
pub async fn flickr_list_favorites(
    gateway: web::Data<Gateway>,
    query: web::Query<FlickrFavoritesQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    gateway.flickr_auth_status()?;
    let page = query.page.unwrap_or(1);
    if page > MAX_PAGE {
        return Err(Problem::invalid(format!(
            "\"page\" must be at most {MAX_PAGE}"
        )));
    }
    let request = PageRequest::new(
        page,
        query.per_page.unwrap_or(PageRequest::DEFAULT_PER_PAGE),
    )?;
    let result = gateway
        .flickr_favorites(request, crate::api::favorites::wants_no_cache(&req))
        .await?;
    Ok(crate::api::favorites::page_response(&req, &result))
}
