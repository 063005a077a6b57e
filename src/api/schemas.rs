//! Schemas that document Imgur's objects in the OpenAPI document. The
//! gateway passes Imgur's `data` through byte for byte, so these types are
//! never built: they describe the main fields (Imgur sends more).
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// Imgur's image object, passed through with Imgur's field names.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "aB3dE5g", "title": "A cat", "description": null, "datetime": 1700000000, "type": "image/png", "animated": false, "width": 640, "height": 480, "size": 12345, "views": 0, "link": "https://i.imgur.com/aB3dE5g.png", "deletehash": "x1y2z3w4v5u6t7s", "name": "cat.png", "favorite": false}))]
pub struct Image {
    id: String,
    title: Option<String>,
    description: Option<String>,
    /// Upload time, unix seconds.
    datetime: Option<i64>,
    /// MIME type.
    #[serde(rename = "type")]
    media_type: Option<String>,
    animated: Option<bool>,
    width: Option<u32>,
    height: Option<u32>,
    /// Bytes.
    size: Option<u64>,
    views: Option<u64>,
    link: Option<String>,
    /// Deletes the image without user authorization; only shown to its owner.
    deletehash: Option<String>,
    name: Option<String>,
    favorite: Option<bool>,
    nsfw: Option<bool>,
    account_url: Option<String>,
    /// Video links, for videos.
    mp4: Option<String>,
    gifv: Option<String>,
}

/// A multipart upload: exactly one of `image`, `video` or `url`.
#[derive(ToSchema)]
pub struct UploadForm {
    // Plain types, not nullable ones: Swagger UI offers a file picker and
    // leaves unused fields empty only then. No example for the whole form:
    // Swagger UI would fill it in, and a pre-filled `url` beside a chosen
    // file is two sources, refused.
    /// An image file, up to 10 MiB.
    #[schema(value_type = String, format = Binary, required = false)]
    image: Option<Vec<u8>>,
    /// A video file, up to 200 MiB.
    #[schema(value_type = String, format = Binary, required = false)]
    video: Option<Vec<u8>>,
    /// An http(s) URL of an image for Imgur to fetch.
    #[schema(value_type = String, required = false, example = "")]
    url: Option<String>,
    #[schema(value_type = String, required = false, example = "")]
    title: Option<String>,
    #[schema(value_type = String, required = false, example = "")]
    description: Option<String>,
    /// Album id (or an anonymous album's deletehash) to add the image to.
    #[schema(value_type = String, required = false, example = "")]
    album: Option<String>,
    /// File name to record.
    #[schema(value_type = String, required = false, example = "")]
    name: Option<String>,
    /// `true` or `1` removes a video's audio track.
    #[schema(value_type = bool, required = false, example = false)]
    disable_audio: Option<bool>,
}

/// Imgur's account object (`GET /3/account/me`), passed through.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": 4242, "url": "demo", "bio": null, "avatar": null, "reputation": 0, "reputation_name": "Neutral", "created": 1481839668, "pro_expiration": false}))]
pub struct Account {
    id: u64,
    /// The username.
    url: String,
    bio: Option<String>,
    reputation: Option<f64>,
    /// Unix seconds.
    created: Option<u64>,
}

/// Imgur's album object, passed through with Imgur's field names.
/// `deletehash` is shown to the owner (and in the answer that creates it).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "AbC1234", "title": "Cats", "description": null, "datetime": 1700000000, "cover": "aB3dE5g", "account_url": "demo", "privacy": "hidden", "views": 0, "link": "https://imgur.com/a/AbC1234", "favorite": false, "deletehash": "q9w8e7r6t5y4u3i", "images_count": 1, "images": [{"id": "aB3dE5g", "title": "A cat", "type": "image/png", "link": "https://i.imgur.com/aB3dE5g.png"}]}))]
pub struct Album {
    id: String,
    title: Option<String>,
    description: Option<String>,
    /// Creation time, unix seconds.
    datetime: Option<i64>,
    /// The cover image's id.
    cover: Option<String>,
    account_url: Option<String>,
    /// `public`, `hidden` or `secret`.
    privacy: Option<String>,
    views: Option<u64>,
    /// `https://imgur.com/a/{id}`.
    link: Option<String>,
    favorite: Option<bool>,
    /// Changes and deletes the album without the account; for an anonymous
    /// album the only way to.
    deletehash: Option<String>,
    images_count: Option<u64>,
    /// The album's images (Imgur's image objects).
    images: Option<Vec<Image>>,
}

/// One favorite: Imgur's Gallery Image or Gallery Album object (tell them
/// apart by `is_album`), passed through with Imgur's field names.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "aB3dE5g", "title": "A cat", "description": null, "datetime": 1700000000, "type": "image/png", "animated": false, "width": 640, "height": 480, "size": 12345, "link": "https://i.imgur.com/aB3dE5g.png", "favorite": true, "is_album": false}))]
pub struct FavoriteItem {
    id: String,
    title: Option<String>,
    description: Option<String>,
    datetime: Option<i64>,
    #[serde(rename = "type")]
    media_type: Option<String>,
    link: Option<String>,
    favorite: Option<bool>,
    is_album: Option<bool>,
}
