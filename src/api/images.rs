//! Upload, read, update and delete images.

use super::schemas::{Image, UploadForm};
use super::{imgur_json, problem::copy_rate_limits, Problem, ProblemKind};
use crate::gateway::Gateway;
use crate::model::{ImageId, ImageUpdate};
use crate::startup::ClientTimeout;
use crate::upload::{
    decode_base64_json, validate_url, Base64Error, FileHead, ImageUpload, Intake, SpoolError,
    Upload, UploadFields, UploadSource, UploadStorage, IMAGE_MAX_BYTES, MAX_TEXT_FIELD_BYTES,
    VIDEO_MAX_BYTES,
};
use actix_multipart::{Field, Multipart};
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::Duration;
use utoipa::ToSchema;

/// A multipart upload has at most this many parts.
const MAX_MULTIPART_FIELDS: usize = 16;
/// Room for the multipart framing and text fields around a maximal video.
const MULTIPART_OVERHEAD_BYTES: u64 = 1024 * 1024;
/// A JSON upload carries at most a 10 MiB image as base64 plus text fields.
const JSON_UPLOAD_LIMIT_BYTES: usize =
    (IMAGE_MAX_BYTES as usize / 3 + 1) * 4 + 5 * MAX_TEXT_FIELD_BYTES;

/// A JSON upload: exactly one of `url` or `base64`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://example.com/cat.png", "title": "A cat"}))]
pub struct UploadJson<'a> {
    /// An http(s) URL of an image for Imgur to fetch.
    url: Option<String>,
    /// Base64 image data (a `data:` URL works too), up to 10 MiB decoded.
    // Borrowed from the body as it is written there, and decoded from it.
    #[serde(borrow)]
    #[schema(value_type = Option<String>)]
    base64: Option<&'a RawValue>,
    title: Option<String>,
    description: Option<String>,
    /// Album id (or an anonymous album's deletehash) to add the image to.
    album: Option<String>,
    /// File name to record.
    name: Option<String>,
    /// Removes a video's audio track.
    disable_audio: Option<bool>,
}

/// A title and/or description change: at least one of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageUpdateBody {
    #[serde(default, deserialize_with = "present_string")]
    pub(super) title: Option<String>,
    #[serde(default, deserialize_with = "present_string")]
    pub(super) description: Option<String>,
}

/// A field that may be left out but, when sent, must be a string (not null).
fn present_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

// Written by hand: utoipa 5.5's `min_properties` attribute emits
// `maxProperties`, which would forbid sending both fields.
impl utoipa::PartialSchema for ImageUpdateBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let text = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(ImageUpdate::MAX_FIELD_LEN))
        };
        ObjectBuilder::new()
            .description(Some(
                "A title and/or description change: at least one of them.",
            ))
            .property("title", text())
            .property("description", text())
            .min_properties(Some(1))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .examples([serde_json::json!({"title": "A better title"})])
            .into()
    }
}

impl utoipa::ToSchema for ImageUpdateBody {}

/// Upload an image or video
///
/// Send `multipart/form-data` with exactly one of `image` (file, up to
/// 10 MiB), `video` (file, up to 200 MiB) or `url`, or a JSON body with
/// exactly one of `url` or `base64`; both take the optional `title`,
/// `description`, `album`, `name` and `disable_audio`. In user mode the
/// image belongs to the account, otherwise it is anonymous (keep its
/// `deletehash` to delete it). Answers 201 with Imgur's image object.
#[utoipa::path(
    tag = "images",
    operation_id = "uploadImage",
    request_body(
        description = "The media and its optional fields",
        content(
            (UploadForm = "multipart/form-data"),
            (UploadJson = "application/json")
        )
    ),
    responses(
        (status = 201, description = "Uploaded", body = Image,
            headers(
                ("Location" = String, description = "/v1/images/{id} of the new image"),
                ("X-Pixgate-Ledger" = String, description = "`recorded`, or `unrecorded` when the ledger write failed (the upload still succeeded; pixgate retries the write and its log has the record)")
            )),
        (status = 400, description = "Missing, duplicate or invalid fields, or Imgur refused the media", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Image over 10 MiB or video over 200 MiB; Imgur received no upload", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The client paused longer than PIXGATE_CLIENT_TIMEOUT while sending the body", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither multipart/form-data nor application/json", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Uploads in progress hold PIXGATE_UPLOAD_BUDGET_BYTES (`busy`; Imgur received no upload), or Imgur is over capacity; see Retry-After", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/images")]
pub async fn upload(
    gateway: web::Data<Gateway>,
    storage: web::Data<UploadStorage>,
    client_timeout: web::Data<ClientTimeout>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let pause = client_timeout.0;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let len = content_length(&req);
    let uploaded = if content_type.starts_with("multipart/form-data") {
        let max_len = VIDEO_MAX_BYTES + MULTIPART_OVERHEAD_BYTES;
        if len.is_some_and(|len| len > max_len) {
            return Err(too_large(
                "the request is larger than Imgur's 200 MiB video limit",
            ));
        }
        let mut intake = Intake::new(&storage, len)?;
        // A large video starts going upstream while it still arrives.
        let live = intake.live(len.unwrap_or(max_len));
        let multipart = Multipart::new(req.headers(), payload);
        gateway
            .upload(live, read_multipart(multipart, pause, intake))
            .await?
    } else if content_type.starts_with("application/json") {
        if len.is_some_and(|len| len > JSON_UPLOAD_LIMIT_BYTES as u64) {
            return Err(too_large(
                "the JSON body is larger than a 10 MiB image in base64",
            ));
        }
        let mut intake = Intake::new(&storage, len)?;
        // A JSON upload has no video to stream: its live end never starts.
        let live = intake.live(0);
        gateway
            .upload(live, read_json_upload(payload, len, pause, intake))
            .await?
    } else {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            "send multipart/form-data (image, video or url) or application/json (url or base64)",
        ));
    };
    let mut response = HttpResponse::Created();
    response
        .insert_header((header::LOCATION, format!("/v1/images/{}", uploaded.id)))
        .insert_header((header::CONTENT_TYPE, "application/json"));
    copy_rate_limits(&mut response, &uploaded.image.rate_limits);
    let mut response = response.body(uploaded.image.data);
    super::ledger_header(response.headers_mut(), uploaded.ledger);
    Ok(response)
}

pub(super) fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(detail: &str) -> Problem {
    Problem::new(ProblemKind::PayloadTooLarge, detail)
}

const ONE_SOURCE: &str = "send exactly one of \"image\", \"video\" or \"url\"";

/// The next chunk of a client's body, or 408 when the client pauses longer
/// than `pause` (a slow or stuck client must not hold a worker forever).
pub(super) async fn within<T>(
    pause: Duration,
    next: impl std::future::Future<Output = Option<T>>,
) -> Result<Option<T>, Problem> {
    tokio::time::timeout(pause, next).await.map_err(|_| {
        Problem::new(
            ProblemKind::RequestTimeout,
            format!("the body stalled for more than {} s", pause.as_secs()),
        )
    })
}

/// The fields of a multipart upload, in order: each within `pause` of the
/// last, each name at most once, at most `max` of them. Both providers'
/// upload handlers read their forms through it.
pub(super) struct FormFields {
    multipart: Multipart,
    pause: Duration,
    max: usize,
    seen: Vec<String>,
}

impl FormFields {
    pub(super) fn new(multipart: Multipart, pause: Duration, max: usize) -> Self {
        Self {
            multipart,
            pause,
            max,
            seen: Vec::new(),
        }
    }

    /// The next field and its name, `None` at the end of the form.
    pub(super) async fn next(&mut self) -> Result<Option<(String, Field)>, Problem> {
        let Some(field) = within(self.pause, self.multipart.next()).await? else {
            return Ok(None);
        };
        let field =
            field.map_err(|e| Problem::invalid(format!("malformed multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        if self.seen.len() >= self.max {
            return Err(Problem::invalid(format!(
                "this upload has at most {} fields",
                self.max
            )));
        }
        if self.seen.contains(&name) {
            return Err(Problem::invalid(format!("field \"{name}\" was sent twice")));
        }
        self.seen.push(name.clone());
        Ok(Some((name, field)))
    }
}

/// Reads a multipart upload through `intake`, spooling the file and
/// stopping at its limit; a large video also goes live as it arrives.
async fn read_multipart(
    multipart: Multipart,
    pause: Duration,
    mut intake: Intake,
) -> Result<ImageUpload, Problem> {
    let mut source: Option<UploadSource> = None;
    let mut fields = UploadFields::default();
    let mut form = FormFields::new(multipart, pause, MAX_MULTIPART_FIELDS);
    while let Some((name, mut field)) = form.next().await? {
        // HTML forms (Swagger UI's too) send every field, the unused ones empty.
        match name.as_str() {
            "image" | "video" => {
                let spooled = spool_file(&name, &mut field, pause, &mut intake).await?;
                let Some(file) = spooled else {
                    continue;
                };
                if source.replace(file).is_some() {
                    return Err(Problem::invalid(ONE_SOURCE));
                }
            }
            "url" => {
                let url = read_text(&name, &mut field, pause).await?;
                if url.trim().is_empty() {
                    continue;
                }
                if source.replace(validate_url(&url)?).is_some() {
                    return Err(Problem::invalid(ONE_SOURCE));
                }
            }
            "title" => fields.title = non_empty(read_text(&name, &mut field, pause).await?),
            "description" => fields.description = non_empty(read_text(&name, &mut field, pause).await?),
            "album" => fields.album = non_empty(read_text(&name, &mut field, pause).await?),
            "name" => fields.name = non_empty(read_text(&name, &mut field, pause).await?),
            "disable_audio" => {
                fields.disable_audio = match read_text(&name, &mut field, pause).await?.trim() {
                    "1" | "true" => true,
                    "0" | "false" | "" => false,
                    _ => return Err(Problem::invalid("\"disable_audio\" must be true, false, 1 or 0")),
                }
            }
            other => {
                return Err(Problem::invalid(format!(
                    "unknown field \"{other}\"; fields are image, video, url, title, description, album, name, disable_audio"
                )))
            }
        }
    }
    let source = source.ok_or_else(|| Problem::invalid(ONE_SOURCE))?;
    let checked = ImageUpload::new(source, fields)?;
    intake.complete(&checked.fields).await;
    Ok(checked)
}

pub(super) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Spools a file part; `None` for an unused form field (no file name, no
/// bytes). Only a video goes live while it arrives: an image is at most
/// 10 MiB, and must be whole (and within its limit) before any request to
/// Imgur begins.
async fn spool_file(
    name: &str,
    field: &mut Field,
    pause: Duration,
    intake: &mut Intake,
) -> Result<Option<UploadSource>, Problem> {
    let is_video = name == "video";
    let (limit, live) = if is_video {
        (VIDEO_MAX_BYTES, true)
    } else {
        (IMAGE_MAX_BYTES, false)
    };
    let file = read_file(name, field, pause, intake, limit, live, |e| e.into()).await?;
    Ok(file.map(|file| {
        if is_video {
            UploadSource::Video(file)
        } else {
            UploadSource::Image(file)
        }
    }))
}

/// Reads one file part of an upload (Imgur's or Flickr's) through the
/// request's `intake`, within `limit`, going `live` as it arrives when
/// asked; `None` for an unused form field (no file name, no bytes).
/// `spool_problem` says what a spooling failure (too large, disk) is.
pub(super) async fn read_file(
    name: &str,
    field: &mut Field,
    pause: Duration,
    intake: &mut Intake,
    limit: u64,
    live: bool,
    spool_problem: impl Fn(SpoolError) -> Problem,
) -> Result<Option<Upload>, Problem> {
    // Control characters could break the upstream part's header.
    let file_name = field
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|n| !n.is_empty());
    let head = FileHead {
        file_name: file_name.clone().unwrap_or_else(|| name.to_owned()),
        content_type: field.content_type().map(|m| m.to_string()),
    };
    let mut writer = if live {
        intake.live_video(head, limit)
    } else {
        intake.file(head, limit)
    };
    while let Some(chunk) = within(pause, field.next()).await? {
        let chunk =
            chunk.map_err(|e| Problem::invalid(format!("malformed multipart body: {e}")))?;
        writer.write(&chunk).await.map_err(&spool_problem)?;
    }
    let file = writer.finish().await.map_err(&spool_problem)?;
    if file.is_empty() {
        return match file_name {
            None => Ok(None),
            Some(_) => Err(Problem::invalid(format!("the \"{name}\" file is empty"))),
        };
    }
    Ok(Some(file))
}

pub(super) async fn read_text(
    name: &str,
    field: &mut Field,
    pause: Duration,
) -> Result<String, Problem> {
    let mut text = Vec::new();
    while let Some(chunk) = within(pause, field.next()).await? {
        let chunk =
            chunk.map_err(|e| Problem::invalid(format!("malformed multipart body: {e}")))?;
        if text.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
            return Err(Problem::invalid(format!(
                "\"{name}\" is longer than {MAX_TEXT_FIELD_BYTES} bytes"
            )));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text).map_err(|_| Problem::invalid(format!("\"{name}\" is not UTF-8 text")))
}

/// Reads a JSON upload, holding its bytes in `intake`: the raw body, then
/// the one decoded copy of a base64 image, decoded straight from the body
/// (see [`decode_base64_json`]); the body is let go once decoded.
async fn read_json_upload(
    mut payload: web::Payload,
    len: Option<u64>,
    pause: Duration,
    mut intake: Intake,
) -> Result<ImageUpload, Problem> {
    // One allocation for a body of known length (checked against the limit).
    let mut body = web::BytesMut::with_capacity(len.unwrap_or(0) as usize);
    while let Some(chunk) = within(pause, payload.next()).await? {
        let chunk = chunk.map_err(|e| Problem::invalid(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > JSON_UPLOAD_LIMIT_BYTES {
            return Err(too_large(
                "the JSON body is larger than a 10 MiB image in base64",
            ));
        }
        intake.hold(chunk.len() as u64)?;
        body.extend_from_slice(&chunk);
    }
    let checked = {
        let json: UploadJson<'_> = serde_json::from_slice(&body)
            .map_err(|e| Problem::invalid(format!("invalid JSON body: {e}")))?;
        let source = match (json.url, json.base64) {
            (Some(url), None) => validate_url(&url)?,
            (None, Some(literal)) => {
                // The decoded copy is at most 3/4 of the text.
                let decoded_bound = (literal.get().len() as u64 / 4 * 3 + 3).min(IMAGE_MAX_BYTES);
                intake.hold(decoded_bound)?;
                let image = decode_base64_json(literal.get()).map_err(|e| match e {
                    Base64Error::Invalid => {
                        Problem::invalid("\"base64\" is not valid base64 image data")
                    }
                    Base64Error::TooLarge => {
                        too_large("the base64 image is larger than Imgur's 10 MiB limit")
                    }
                })?;
                let head = FileHead {
                    file_name: "image".to_owned(),
                    content_type: None,
                };
                UploadSource::Image(intake.in_memory(head, image.into()))
            }
            _ => {
                return Err(Problem::invalid(
                    "send exactly one of \"url\" or \"base64\"",
                ))
            }
        };
        let fields = UploadFields {
            title: json.title,
            description: json.description,
            album: json.album,
            name: json.name,
            disable_audio: json.disable_audio.unwrap_or(false),
        };
        ImageUpload::new(source, fields)?
    };
    let body_len = body.len() as u64;
    drop(body);
    intake.release(body_len);
    Ok(checked)
}

/// Get an image
///
/// Imgur's image object.
#[utoipa::path(
    tag = "images",
    operation_id = "getImage",
    params(("id" = String, Path, description = "Image id", pattern = "^[A-Za-z0-9]{1,32}$")),
    responses(
        (status = 200, description = "The image", body = Image)
    )
)]
#[get("/images/{id}")]
pub async fn get_image(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = ImageId::parse(&id)?;
    let reply = gateway.image(&id).await?;
    Ok(imgur_json(StatusCode::OK, &reply))
}

/// Update an image
///
/// Changes the title and/or description (at least one) and answers the image
/// as it is afterwards. `{id}` is the image id in user mode, or the
/// deletehash of an anonymous upload.
#[utoipa::path(
    tag = "images",
    operation_id = "updateImage",
    params(("id" = String, Path, description = "Image id or deletehash", pattern = "^[A-Za-z0-9]{1,32}$")),
    request_body(content = ImageUpdateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated image", body = Image),
        (status = 400, description = "Bad id, bad JSON, or neither field sent", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/images/{id}")]
pub async fn update_image(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
    body: web::Json<ImageUpdateBody>,
) -> Result<HttpResponse, Problem> {
    let id = ImageId::parse(&id)?;
    let body = body.into_inner();
    let update = ImageUpdate::new(body.title, body.description)?;
    let reply = gateway.update_image(&id, &update).await?;
    Ok(imgur_json(StatusCode::OK, &reply))
}

/// Delete an image
///
/// `{id}` is the image id (user mode, or an anonymous upload pixgate's
/// ledger knows: it supplies the deletehash) or the deletehash.
#[utoipa::path(
    tag = "images",
    operation_id = "deleteImage",
    params(("id" = String, Path, description = "Image id or deletehash", pattern = "^[A-Za-z0-9]{1,32}$")),
    responses(
        (status = 204, description = "Deleted",
            headers(("X-Pixgate-Ledger" = String, description = "`recorded`, or `unrecorded` when the ledger write failed; absent when the ledger does not know the image")))
    )
)]
#[delete("/images/{id}")]
pub async fn delete_image(
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = ImageId::parse(&id)?;
    let deleted = gateway.delete_image(&id).await?;
    Ok(super::deleted_response(&deleted))
}
