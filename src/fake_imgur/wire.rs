//! Imgur's wire format: the envelope, error bodies, fault bodies, rate-limit
//! headers and the Image / Gallery Image objects.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::state::{
    random_alnum, Album, Image, RateSnapshot, CLIENT_LIMIT, POST_LIMIT, USER_LIMIT,
};
use super::FaultKind;

/// The message Imgur sends with a 403 for an unknown or expired access token.
pub(crate) const INVALID_TOKEN: &str = "The access token provided is invalid.";

/// The path and method an error body echoes.
pub(crate) struct Ctx<'a> {
    pub(crate) path: &'a str,
    pub(crate) method: &'a str,
}

/// An error answered as `{"data":{"error":..,"request":..,"method":..},"success":false,"status":N}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 401: no or unknown client id.
    pub(crate) fn authentication_required() -> ApiError {
        ApiError::new(401, "Authentication required")
    }

    /// 403: a bearer token that is unknown, expired or revoked.
    pub(crate) fn invalid_token() -> ApiError {
        ApiError::new(403, INVALID_TOKEN)
    }

    /// 403: a user-only route called with `Client-ID`.
    pub(crate) fn requires_user() -> ApiError {
        ApiError::new(403, "This method requires authentication")
    }

    /// 404 for an image id.
    pub(crate) fn image_not_found(id: &str) -> ApiError {
        ApiError::new(404, format!("Unable to find an image with the id, {id}"))
    }

    pub(crate) fn into_response(self, ctx: &Ctx<'_>) -> HttpResponse {
        error_response(self.status, json!(self.message), ctx)
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON response with exactly this body.
pub(crate) fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(status_code(status))
        .content_type("application/json")
        .body(body.to_string())
}

/// `{"data":data,"success":true,"status":200}`.
pub(crate) fn ok(data: Value) -> HttpResponse {
    json_response(200, &json!({"data": data, "success": true, "status": 200}))
}

/// An envelope error whose `data.error` is `error` (a string or an object).
fn error_response(status: u16, error: Value, ctx: &Ctx<'_>) -> HttpResponse {
    json_response(
        status,
        &json!({
            "data": {"error": error, "request": ctx.path, "method": ctx.method},
            "success": false,
            "status": status,
        }),
    )
}

/// An HTML response with exactly this body.
pub(crate) fn html_response(status: u16, html: String) -> HttpResponse {
    HttpResponse::build(status_code(status))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// The response for a fault; `None` for [`FaultKind::Delay`], which answers
/// normally, and for the waiting faults (`Late`, `Held`), which the server
/// waits out before it asks for their inner fault's response.
/// The flag says whether `/3` rate-limit headers belong on it (JSON envelopes only).
pub(crate) fn fault_response(kind: &FaultKind, ctx: &Ctx<'_>) -> Option<(HttpResponse, bool)> {
    let response = match kind {
        FaultKind::Delay(_) | FaultKind::Late(..) | FaultKind::Held(..) => return None,
        FaultKind::ServerError(status) => {
            (error_response(*status, json!("Internal server error"), ctx), true)
        }
        FaultKind::BareStringError(status) => (
            json_response(
                *status,
                &json!({"data": "An error occurred", "success": false, "status": status}),
            ),
            true,
        ),
        FaultKind::ObjectError(status) => (
            error_response(
                *status,
                json!({
                    "code": 1003,
                    "message": "File type invalid (1)",
                    "type": "Exception_UploadError",
                    "exception": [],
                }),
                ctx,
            ),
            true,
        ),
        FaultKind::ErrorsArray429 => {
            let body = json!({"errors": [{
                "id": format!("legacy-api-{}", random_alnum(24).to_ascii_lowercase()),
                "code": "429",
                "status": "Too Many Requests",
                "detail": "Too Many Requests",
            }]});
            let response = HttpResponse::TooManyRequests()
                .content_type("application/vnd.imgur.v1+json")
                .body(body.to_string());
            (response, false)
        }
        FaultKind::RateLimited {
            retry_after,
            user_reset_secs,
        } => {
            let minutes = user_reset_secs.div_ceil(60).max(1);
            let mut response = error_response(
                429,
                json!({
                    "code": 429,
                    "message": format!("You are uploading too fast. Please wait {minutes} more minutes."),
                    "type": "ImgurException",
                    "exception": [],
                }),
                ctx,
            );
            let headers = response.headers_mut();
            headers.insert(
                HeaderName::from_static("x-ratelimit-userremaining"),
                HeaderValue::from(0u64),
            );
            headers.insert(
                HeaderName::from_static("x-ratelimit-userreset"),
                HeaderValue::from(*user_reset_secs),
            );
            if let Some(seconds) = retry_after {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            (response, true)
        }
        FaultKind::OverCapacityJson(status) => (
            json_response(
                *status,
                &json!({
                    "data": {"error": "Imgur is temporarily over capacity. Please try again later."},
                    "success": false,
                    "status": status,
                }),
            ),
            true,
        ),
        FaultKind::OverCapacityHtml => (
            html_response(
                503,
                "<!DOCTYPE html>\n<html><head><title>Imgur overloaded. Hang in there with kittens</title></head>\n\
                 <body><h1>Imgur is over capacity!</h1><p>Hang in there with kittens, and try again in a few minutes.</p></body></html>\n"
                    .to_owned(),
            ),
            false,
        ),
        FaultKind::Html(status) => (
            html_response(
                *status,
                format!(
                    "<!DOCTYPE html>\n<html><head><title>Imgur: The most awesome {status} page on the internet</title></head>\n\
                     <body><h1>Error {status}</h1><p>Something went wrong. Try again later.</p></body></html>\n"
                ),
            ),
            false,
        ),
        FaultKind::Empty503 => (HttpResponse::ServiceUnavailable().finish(), false),
        FaultKind::InvalidJson => (
            HttpResponse::Ok()
                .content_type("application/json")
                .body(r#"{"data":{"id":"#),
            false,
        ),
        FaultKind::InvalidToken => (ApiError::invalid_token().into_response(ctx), true),
        FaultKind::HugeBody(size) => (streamed(*size, *size), false),
        FaultKind::TruncatedBody => (streamed(4096, 1024), false),
        FaultKind::Blocked { status, cdn_error } => {
            let mut response = json_response(
                *status,
                &json!({"data": {"error": "These actions are forbidden."}, "success": false, "status": status}),
            );
            if *cdn_error {
                response.headers_mut().insert(
                    HeaderName::from_static("cdn-error"),
                    HeaderValue::from_static("yes"),
                );
            }
            (response, false)
        }
        FaultKind::StallBody => (
            HttpResponse::Ok()
                .content_type("application/json")
                .streaming(futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>()),
            false,
        ),
    };
    Some(response)
}

/// A JSON-looking body announced as `announced` bytes, of which `sent` are
/// sent before the stream fails (which makes actix drop the connection).
fn streamed(announced: u64, sent: u64) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    let head = bytes::Bytes::from_static(br#"{"data":[""#);
    let filler = bytes::Bytes::from(vec![b'x'; CHUNK]);
    let mut remaining = sent.saturating_sub(head.len() as u64);
    let chunks = std::iter::once(head).chain(std::iter::from_fn(move || {
        let take = remaining.min(CHUNK as u64) as usize;
        remaining -= take as u64;
        (take > 0).then(|| filler.slice(..take))
    }));
    let truncated = sent < announced;
    let body = futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>)).chain(
        futures_util::stream::iter(
            truncated.then(|| Err(std::io::Error::other("the fake cut the body off"))),
        ),
    );
    HttpResponse::Ok()
        .content_type("application/json")
        .body(actix_web::body::SizedStream::new(announced, body))
}

/// Adds the `/3` rate-limit headers that are not already set.
pub(crate) fn add_rate_headers(response: &mut HttpResponse, rate: &RateSnapshot, post: bool) {
    let mut values = vec![
        ("x-ratelimit-userlimit", USER_LIMIT),
        ("x-ratelimit-userremaining", rate.user_remaining),
        ("x-ratelimit-userreset", rate.reset_epoch),
        ("x-ratelimit-clientlimit", CLIENT_LIMIT),
        ("x-ratelimit-clientremaining", rate.client_remaining),
        ("x-ratelimit-clientreset", rate.reset_in),
    ];
    if post {
        values.extend([
            ("x-post-rate-limit-limit", POST_LIMIT),
            ("x-post-rate-limit-remaining", rate.post_remaining),
            ("x-post-rate-limit-reset", rate.reset_in),
        ]);
    }
    let headers = response.headers_mut();
    for (name, value) in values {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

/// The `/3/credits` data.
pub(crate) fn credits_json(rate: &RateSnapshot) -> Value {
    json!({
        "UserLimit": USER_LIMIT,
        "UserRemaining": rate.user_remaining,
        "UserReset": rate.reset_epoch,
        "ClientLimit": CLIENT_LIMIT,
        "ClientRemaining": rate.client_remaining,
    })
}

/// The file extension of `i.imgur.com` links for a MIME type.
fn extension(mime: &str, is_video: bool) -> &'static str {
    match mime {
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        _ if is_video => "mp4",
        _ => "jpg",
    }
}

fn animated(image: &Image) -> bool {
    image.stored.is_video || image.stored.mime == "image/gif"
}

fn add_video_fields(object: &mut serde_json::Map<String, Value>, image: &Image) {
    let id = &image.stored.id;
    object.insert("mp4".into(), json!(format!("https://i.imgur.com/{id}.mp4")));
    object.insert(
        "gifv".into(),
        json!(format!("https://i.imgur.com/{id}.gifv")),
    );
    object.insert(
        "hls".into(),
        json!(format!("https://i.imgur.com/{id}.m3u8")),
    );
    object.insert("mp4_size".into(), json!(image.stored.size));
    object.insert("looping".into(), json!(true));
    object.insert("processing".into(), json!({"status": "completed"}));
}

/// The Image object; `owner_view` adds `deletehash` and `name`.
pub(crate) fn image_json(image: &Image, owner_view: bool, favorite: bool) -> Value {
    let stored = &image.stored;
    let mut object = json!({
        "id": stored.id,
        "title": stored.title,
        "description": stored.description,
        "datetime": image.datetime,
        "type": stored.mime,
        "animated": animated(image),
        "width": image.width,
        "height": image.height,
        "size": stored.size,
        "views": image.views,
        "bandwidth": image.views.saturating_mul(stored.size),
        "vote": null,
        "favorite": favorite,
        "nsfw": null,
        "section": null,
        "account_url": stored.owner,
        "account_id": image.account_id,
        "is_ad": false,
        "in_most_viral": false,
        "has_sound": false,
        "tags": [],
        "ad_type": 0,
        "ad_url": "",
        "edited": "0",
        "in_gallery": false,
        "link": format!("https://i.imgur.com/{}.{}", stored.id, extension(&stored.mime, stored.is_video)),
    });
    if let Some(map) = object.as_object_mut() {
        if owner_view {
            map.insert("deletehash".into(), json!(stored.deletehash));
            map.insert("name".into(), json!(image.name));
        }
        if stored.is_video {
            add_video_fields(map, image);
        }
    }
    object
}

/// The Gallery Image object used in the favorites list.
pub(crate) fn gallery_image_json(image: &Image) -> Value {
    let stored = &image.stored;
    let mut object = json!({
        "id": stored.id,
        "title": stored.title,
        "description": stored.description,
        "datetime": image.datetime,
        "type": stored.mime,
        "animated": animated(image),
        "width": image.width,
        "height": image.height,
        "size": stored.size,
        "views": image.views,
        "bandwidth": image.views.saturating_mul(stored.size),
        "vote": null,
        "favorite": true,
        "nsfw": false,
        "section": null,
        "account_url": stored.owner,
        "account_id": image.account_id,
        "is_ad": false,
        "in_most_viral": false,
        "tags": [],
        "ad_type": 0,
        "ad_url": "",
        "in_gallery": false,
        "link": format!("https://i.imgur.com/{}.{}", stored.id, extension(&stored.mime, stored.is_video)),
        "is_album": false,
        "ups": null,
        "downs": null,
        "points": null,
        "score": null,
    });
    if let (Some(map), true) = (object.as_object_mut(), stored.is_video) {
        add_video_fields(map, image);
    }
    object
}

/// The Album object; `owner_view` adds `deletehash`. `images` are the
/// album's image objects, in order.
pub(crate) fn album_json(album: &Album, owner_view: bool, images: Vec<Value>) -> Value {
    let stored = &album.stored;
    let mut object = json!({
        "id": stored.id,
        "title": stored.title,
        "description": stored.description,
        "datetime": album.datetime,
        "cover": stored.cover,
        "cover_width": stored.cover.as_ref().map(|_| 640),
        "cover_height": stored.cover.as_ref().map(|_| 480),
        "account_url": stored.owner,
        "account_id": null,
        "privacy": stored.privacy,
        "layout": "blog",
        "views": 0,
        "link": format!("https://imgur.com/a/{}", stored.id),
        "favorite": stored.favorite,
        "nsfw": null,
        "section": null,
        "order": 0,
        "images_count": images.len(),
        "images": images,
        "in_gallery": false,
        "is_ad": false,
        "include_album_ads": false,
        "is_album": true,
    });
    if let (Some(map), true) = (object.as_object_mut(), owner_view) {
        map.insert("deletehash".into(), json!(stored.deletehash));
    }
    object
}
