//! Albums: create, read, update, delete, their images, and favoriting them.

use super::schemas::Album;
use super::{imgur_json, ledger_header, problem::copy_rate_limits, Problem};
use crate::gateway::{AlbumReply, Gateway};
use crate::imgur::Reply;
use crate::model::{image_list, AlbumFields, AlbumId, ImageId, Privacy};
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header that lists the requested images Imgur skipped (comma-separated).
pub const SKIPPED_HEADER: &str = "X-Pixgate-Skipped-Images";

/// An album's fields. On create every field is optional; on update a field
/// left out stays as it is, and `image_ids` makes the album hold exactly
/// those images. A field sent must not be `null`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Cats", "description": "Every cat", "privacy": "hidden", "image_ids": ["aB3dE5g"]}))]
pub struct AlbumBody {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 65536)]
    title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 65536)]
    description: Option<String>,
    /// `public` (listed), `hidden` (anyone with the link) or `secret`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    privacy: Option<Privacy>,
    /// The image shown for the album.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, pattern = "^[A-Za-z0-9]{1,32}$")]
    cover: Option<String>,
    /// Image ids (your images, or anonymous uploads made through pixgate).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_items = 500, inline)]
    image_ids: Option<Vec<ImageIdText>>,
}

/// A field that may be left out but, when sent, is not `null`.
fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// An image id: 1 to 32 ASCII letters and digits.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = String, pattern = "^[A-Za-z0-9]{1,32}$", example = "aB3dE5g")]
pub struct ImageIdText(String);

impl AlbumBody {
    fn into_fields(self) -> Result<AlbumFields, Problem> {
        Ok(AlbumFields::new(
            self.title,
            self.description,
            self.privacy,
            self.cover,
            self.image_ids
                .map(|ids| ids.into_iter().map(|id| id.0).collect()),
        )?)
    }
}

/// Images to put into an album.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"image_ids": ["aB3dE5g", "h8iJ9kL"]}))]
pub struct AlbumImagesBody {
    #[schema(min_items = 1, max_items = 500, inline)]
    image_ids: Vec<ImageIdText>,
}

/// What adding images did, when not every image went in. `skipped` lists
/// what Imgur did not take (not your images, or no such images): it adds
/// only images the caller owns.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"album": "AbC1234", "added": ["aB3dE5g"], "already_present": ["h8iJ9kL"], "skipped": ["zZ9yY8x"], "unverified": []}))]
pub struct ImagesAddedView {
    /// The album's id.
    album: String,
    /// Now in the album.
    added: Vec<String>,
    /// Already in the album (not sent again).
    already_present: Vec<String>,
    /// Skipped by Imgur: not yours, or no such image.
    skipped: Vec<String>,
    /// Sent, but the album could not be read back to check (an anonymous
    /// album named by a deletehash pixgate's ledger does not know).
    unverified: Vec<String>,
}

/// An album's favorite state after the call.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "AbC1234", "favorited": true}))]
pub struct AlbumFavoriteState {
    id: String,
    favorited: bool,
}

const ID_PARAM: &str = "Album id, or an anonymous album's deletehash";

fn album_response(status: StatusCode, reply: &AlbumReply) -> HttpResponse {
    let mut response = imgur_json(status, &reply.album);
    if !reply.skipped.is_empty() {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(SKIPPED_HEADER),
            header::HeaderValue::from_str(&reply.skipped.join(",")),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    if let Some(recording) = reply.ledger {
        ledger_header(response.headers_mut(), recording);
    }
    response
}

/// Create an album
///
/// In user mode the album belongs to the account; in anonymous mode it is
/// anonymous, and only its `deletehash` changes or deletes it (the ledger
/// keeps it, so `DELETE /v1/albums/{id}` works by id too). `image_ids`
/// puts images in at once; Imgur skips images that are not yours, and the
/// answer lists them in `X-Pixgate-Skipped-Images`. Answers 201 with the
/// album as Imgur has it, with its `deletehash`.
#[utoipa::path(
    tag = "albums",
    operation_id = "createAlbum",
    request_body(content = AlbumBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Album,
            headers(
                ("Location" = String, description = "/v1/albums/{id} of the new album"),
                ("X-Pixgate-Ledger" = String, description = "`recorded`, or `unrecorded` when the ledger write failed (pixgate retries it; the log has the record)"),
                ("X-Pixgate-Skipped-Images" = String, description = "Requested images Imgur skipped (not yours), comma-separated; absent when none")
            )),
        (status = 400, description = "Bad JSON or a bad field", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/albums")]
pub async fn create_album(
    gateway: web::Data<Gateway>,
    body: web::Json<AlbumBody>,
) -> Result<HttpResponse, Problem> {
    let fields = body.into_inner().into_fields()?;
    let created = gateway.create_album(&fields).await?;
    let mut response = album_response(StatusCode::CREATED, &created);
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/albums/{}", created.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Get an album
///
/// Imgur's album object with its `images`.
#[utoipa::path(
    tag = "albums",
    operation_id = "getAlbum",
    params(("id" = String, Path, description = ID_PARAM, pattern = "^[A-Za-z0-9]{1,32}$")),
    responses((status = 200, description = "The album", body = Album))
)]
#[get("/albums/{id}")]
pub async fn get_album(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = AlbumId::parse(&id)?;
    let reply = gateway.album(&id).await?;
    Ok(imgur_json(StatusCode::OK, &reply))
}

/// Update an album
///
/// Changes the fields sent; a field left out stays as it is (`{}` changes
/// nothing). `image_ids` makes the album hold exactly those images (Imgur skips
/// images that are not yours: see `X-Pixgate-Skipped-Images`). Answers the
/// album afterwards.
#[utoipa::path(
    tag = "albums",
    operation_id = "updateAlbum",
    params(("id" = String, Path, description = ID_PARAM, pattern = "^[A-Za-z0-9]{1,32}$")),
    request_body(content = AlbumBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The album after the update", body = Album,
            headers(("X-Pixgate-Skipped-Images" = String, description = "Requested images Imgur skipped (not yours), comma-separated; absent when none"))),
        (status = 400, description = "Bad id, bad JSON or a bad field", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/albums/{id}")]
pub async fn update_album(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
    body: web::Json<AlbumBody>,
) -> Result<HttpResponse, Problem> {
    let id = AlbumId::parse(&id)?;
    let fields = body.into_inner().into_fields()?;
    let updated = gateway.update_album(&id, &fields).await?;
    Ok(album_response(StatusCode::OK, &updated))
}

/// Delete an album
///
/// `{id}` is the album id (your album, or an anonymous album pixgate's
/// ledger knows: it supplies the deletehash) or the deletehash. The
/// album's images are not deleted.
#[utoipa::path(
    tag = "albums",
    operation_id = "deleteAlbum",
    params(("id" = String, Path, description = ID_PARAM, pattern = "^[A-Za-z0-9]{1,32}$")),
    responses(
        (status = 204, description = "Deleted",
            headers(("X-Pixgate-Ledger" = String, description = "`recorded`, or `unrecorded` when the ledger write failed; absent when the ledger does not know the album")))
    )
)]
#[delete("/albums/{id}")]
pub async fn delete_album(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = AlbumId::parse(&id)?;
    let deleted = gateway.delete_album(&id).await?;
    Ok(super::deleted_response(&deleted))
}

/// Add images to an album
///
/// Puts the images into the album; those already in it are left alone, so
/// repeating the call changes nothing. Answers 204 when every image is in
/// the album afterwards. Imgur adds only images you own (or anonymous
/// uploads whose deletehash pixgate's ledger holds) and skips the others
/// without a word; pixgate reads the album back, and when Imgur skipped
/// any, answers 200 with what was added and what was skipped (also in
/// `X-Pixgate-Skipped-Images`).
#[utoipa::path(
    tag = "albums",
    operation_id = "addAlbumImages",
    params(("id" = String, Path, description = ID_PARAM, pattern = "^[A-Za-z0-9]{1,32}$")),
    request_body(content = AlbumImagesBody, content_type = "application/json"),
    responses(
        (status = 204, description = "Every image is in the album"),
        (status = 200, description = "Imgur skipped some images (not yours), or pixgate could not read the album back to check: what was added and what was not", body = ImagesAddedView,
            headers(("X-Pixgate-Skipped-Images" = String, description = "The images Imgur skipped, comma-separated"))),
        (status = 400, description = "Bad id, bad JSON or no image ids", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/albums/{id}/images")]
pub async fn add_album_images(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
    body: web::Json<AlbumImagesBody>,
) -> Result<HttpResponse, Problem> {
    let id = AlbumId::parse(&id)?;
    let ids = image_list(
        body.into_inner()
            .image_ids
            .into_iter()
            .map(|id| id.0)
            .collect(),
    )?;
    if ids.is_empty() {
        return Err(Problem::invalid(
            "\"image_ids\" must name at least one image",
        ));
    }
    let added = gateway.add_album_images(&id, &ids).await?;
    if added.skipped.is_empty() && added.unverified.is_empty() {
        let mut response = HttpResponse::NoContent();
        copy_rate_limits(&mut response, &added.rate_limits);
        return Ok(response.finish());
    }
    let mut response = HttpResponse::Ok();
    copy_rate_limits(&mut response, &added.rate_limits);
    if !added.skipped.is_empty() {
        response.insert_header((SKIPPED_HEADER, added.skipped.join(",")));
    }
    Ok(response.json(ImagesAddedView {
        album: added.album,
        added: added.added,
        already_present: added.already_present,
        skipped: added.skipped,
        unverified: added.unverified,
    }))
}

/// Remove an image from an album
///
/// Takes the image out of the album (the image itself stays); an image not
/// in the album is no error, so repeating the call changes nothing.
#[utoipa::path(
    tag = "albums",
    operation_id = "removeAlbumImage",
    params(
        ("id" = String, Path, description = ID_PARAM, pattern = "^[A-Za-z0-9]{1,32}$"),
        ("image_id" = String, Path, description = "Image id", pattern = "^[A-Za-z0-9]{1,32}$")
    ),
    responses((status = 204, description = "The image is not in the album"))
)]
#[delete("/albums/{id}/images/{image_id}")]
pub async fn remove_album_image(
    gateway: web::Data<Gateway>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (id, image_id) = path.into_inner();
    let id = AlbumId::parse(&id)?;
    let image_id = ImageId::parse(&image_id)?;
    let reply = gateway.remove_album_image(&id, &image_id).await?;
    let mut response = HttpResponse::NoContent();
    copy_rate_limits(&mut response, &reply.rate_limits);
    Ok(response.finish())
}

/// Favorite an album
///
/// Makes sure the album is a favorite of the account; calling it again
/// changes nothing.
#[utoipa::path(
    tag = "albums",
    operation_id = "addAlbumFavorite",
    params(("id" = String, Path, description = "Album id", pattern = "^[A-Za-z0-9]{1,32}$")),
    responses((status = 200, description = "The album is a favorite", body = AlbumFavoriteState))
)]
#[put("/albums/{id}/favorite")]
pub async fn add_album_favorite(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = AlbumId::parse(&id)?;
    let reply = gateway.set_album_favorite(&id, true).await?;
    Ok(favorite_state(&id, reply))
}

/// Unfavorite an album
///
/// Makes sure the album is not a favorite of the account; calling it again
/// changes nothing.
#[utoipa::path(
    tag = "albums",
    operation_id = "removeAlbumFavorite",
    params(("id" = String, Path, description = "Album id", pattern = "^[A-Za-z0-9]{1,32}$")),
    responses((status = 200, description = "The album is not a favorite", body = AlbumFavoriteState))
)]
#[delete("/albums/{id}/favorite")]
pub async fn remove_album_favorite(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = AlbumId::parse(&id)?;
    let reply = gateway.set_album_favorite(&id, false).await?;
    Ok(favorite_state(&id, reply))
}

fn favorite_state(id: &AlbumId, reply: Reply<bool>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    copy_rate_limits(&mut response, &reply.rate_limits);
    response.json(AlbumFavoriteState {
        id: id.to_string(),
        favorited: reply.data,
    })
}
