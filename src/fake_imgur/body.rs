//! Reading request bodies: urlencoded forms, JSON, multipart and raw media.
//!
//! File parts (and raw `image/*`/`video/*` upload bodies) are never buffered: each
//! chunk goes into a SHA-256 hasher as it arrives and only the size, the hash and
//! the first [`HEAD_LEN`] bytes (for type sniffing) are kept. A file over its limit
//! is still drained to the end so that the client reads the 400 answer instead of
//! a reset connection.

use std::collections::{BTreeMap, HashMap};

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::web::{self, Query};
use actix_web::HttpRequest;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::state::hex;
use super::wire::ApiError;

/// Imgur's limit for the `image` field.
pub(crate) const IMAGE_LIMIT: u64 = 10 * 1024 * 1024;
/// Imgur's limit for the `video` field.
pub(crate) const VIDEO_LIMIT: u64 = 200 * 1024 * 1024;
/// Bytes kept from the start of a file, for sniffing its type and PNG size.
pub(crate) const HEAD_LEN: usize = 64;
/// Longer text values are recorded as `<text: N bytes>`.
const RECORDED_TEXT_MAX: usize = 4096;
/// A base64 `image` text part (10 MiB encodes to about 13.4 MiB).
const MEDIA_TEXT_LIMIT: usize = 16 * 1024 * 1024;
/// Any other multipart text part.
const TEXT_LIMIT: usize = 64 * 1024;
/// A whole urlencoded or JSON body, except on upload.
const SMALL_BODY_LIMIT: usize = 1024 * 1024;
/// A whole urlencoded upload body (base64 may be percent-encoded).
const UPLOAD_FORM_LIMIT: usize = 48 * 1024 * 1024;

/// A file part as received: everything but its bytes.
#[derive(Debug)]
pub(crate) struct ReceivedFile {
    pub(crate) field: String,
    pub(crate) filename: Option<String>,
    /// The part's own content type, if it sent one.
    pub(crate) content_type: Option<String>,
    pub(crate) size: u64,
    /// Hex SHA-256 of the bytes (meaningless when `over_limit`).
    pub(crate) sha256: String,
    pub(crate) head: Vec<u8>,
    pub(crate) over_limit: bool,
}

/// The media of an upload.
#[derive(Debug)]
pub(crate) enum Media {
    /// A file part or raw body.
    File(ReceivedFile),
    /// An `image`/`video` text value: base64 or a URL.
    Text { field: String, value: String },
}

/// A parsed request body.
#[derive(Debug, Default)]
pub(crate) struct Body {
    /// What [`super::RecordedRequest::fields`] shows.
    pub(crate) recorded: BTreeMap<String, String>,
    /// Text fields other than the media, in full (the last value of a
    /// repeated name).
    pub(crate) text: HashMap<String, String>,
    /// Every value of each text field, in order (`ids[]` repeats).
    pub(crate) lists: HashMap<String, Vec<String>>,
    /// The first `image` or `video` field.
    pub(crate) media: Option<Media>,
    /// A body that could not be read; reported after auth.
    pub(crate) problem: Option<ApiError>,
    /// The connection ended before the body did: the request never fully
    /// arrived, so (like Imgur) the fake neither records nor serves it.
    pub(crate) cut_off: bool,
}

impl Body {
    fn add_text(&mut self, name: String, value: String) {
        let recorded = if value.len() > RECORDED_TEXT_MAX {
            format!("<text: {} bytes>", value.len())
        } else {
            value.clone()
        };
        self.recorded.insert(name.clone(), recorded);
        if is_media_field(&name) {
            if self.media.is_none() {
                self.media = Some(Media::Text { field: name, value });
            }
        } else {
            self.lists
                .entry(name.clone())
                .or_default()
                .push(value.clone());
            self.text.insert(name, value);
        }
    }

    fn add_file(&mut self, file: ReceivedFile) {
        self.recorded
            .insert(file.field.clone(), format!("<file: {} bytes>", file.size));
        if is_media_field(&file.field) && self.media.is_none() {
            self.media = Some(Media::File(file));
        }
    }

    fn fail(&mut self, problem: ApiError) {
        self.problem.get_or_insert(problem);
    }

    /// A multipart body that could not be read: cut off or malformed.
    fn fail_multipart(&mut self, error: &actix_multipart::MultipartError) {
        use actix_multipart::MultipartError;
        self.cut_off |= matches!(
            error,
            MultipartError::Incomplete | MultipartError::Payload(_)
        );
        self.fail(malformed("multipart"));
    }

    /// Adds the pairs of a URL query string as text fields (the authorize page
    /// takes its parameters from the query on `GET`). A malformed query sets
    /// [`Body::problem`].
    pub(crate) fn add_query(&mut self, query: &str) {
        match Query::<Vec<(String, String)>>::from_query(query) {
            Ok(pairs) => {
                for (name, value) in pairs.into_inner() {
                    self.add_text(name, value);
                }
            }
            Err(_) => self.fail(malformed("query")),
        }
    }

    /// A text field, if present.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.text.get(name).map(String::as_str)
    }

    /// A list of ids as Imgur takes it: `name[]` repeated, or `name` as one
    /// comma-separated string.
    pub(crate) fn id_list(&self, name: &str) -> Vec<String> {
        let repeated = self.lists.get(&format!("{name}[]")).into_iter().flatten();
        let joined = self
            .lists
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','));
        repeated
            .map(String::as_str)
            .chain(joined)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn is_media_field(name: &str) -> bool {
    name == "image" || name == "video"
}

fn limit_for(field: &str) -> u64 {
    if field == "video" {
        VIDEO_LIMIT
    } else {
        IMAGE_LIMIT
    }
}

fn malformed(what: &str) -> ApiError {
    ApiError::new(400, format!("Malformed {what} body"))
}

/// Reads the whole body of `req`; `upload` selects the upload limits and allows a
/// raw `image/*` or `video/*` body.
pub(crate) async fn read(req: &HttpRequest, payload: web::Payload, upload: bool) -> Body {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let mut body = Body::default();
    let form_limit = if upload {
        UPLOAD_FORM_LIMIT
    } else {
        SMALL_BODY_LIMIT
    };

    if essence.starts_with("multipart/") {
        read_multipart(req, payload, &mut body).await;
    } else if essence == "application/x-www-form-urlencoded" {
        match collect(payload, form_limit).await {
            Ok(bytes) => parse_form(&bytes, &mut body),
            Err(problem) => body.fail(problem),
        }
    } else if essence == "application/json" || essence.ends_with("+json") {
        match collect(payload, form_limit).await {
            Ok(bytes) => parse_json(&bytes, &mut body),
            Err(problem) => body.fail(problem),
        }
    } else if upload && (essence.starts_with("image/") || essence.starts_with("video/")) {
        let field = if essence.starts_with("video/") {
            "video"
        } else {
            "image"
        };
        let limit = limit_for(field);
        match receive_file(payload, limit).await {
            Ok((size, sha256, head)) => body.add_file(ReceivedFile {
                field: field.to_owned(),
                filename: None,
                content_type: Some(essence.to_owned()),
                size,
                sha256,
                head,
                over_limit: size > limit,
            }),
            Err(_) => {
                body.cut_off = true;
                body.fail(malformed("request"));
            }
        }
    } else {
        // Ignored, but drained so the connection stays usable.
        let _ = receive_file(payload, 0).await;
    }
    body
}

/// Collects a body of at most `limit` bytes; a longer one is drained and refused.
async fn collect(mut payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut buf = BytesMut::new();
    let mut over = false;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| malformed("request"))?;
        if over || buf.len() + chunk.len() > limit {
            over = true;
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    if over {
        Err(ApiError::new(400, "File is over the size limit"))
    } else {
        Ok(buf.freeze())
    }
}

fn parse_form(bytes: &[u8], body: &mut Body) {
    let parsed = std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| Query::<Vec<(String, String)>>::from_query(s).ok());
    match parsed {
        Some(pairs) => {
            for (name, value) in pairs.into_inner() {
                body.add_text(name, value);
            }
        }
        None => body.fail(malformed("form")),
    }
}

fn parse_json(bytes: &[u8], body: &mut Body) {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes) {
        Ok(object) => {
            for (name, value) in object {
                match value {
                    serde_json::Value::Null => {}
                    serde_json::Value::String(s) => body.add_text(name, s),
                    other => body.add_text(name, other.to_string()),
                }
            }
        }
        Err(_) => body.fail(malformed("JSON")),
    }
}

async fn read_multipart(req: &HttpRequest, payload: web::Payload, body: &mut Body) {
    let mut multipart = Multipart::new(req.headers(), payload);
    while let Some(item) = multipart.next().await {
        let field = match item {
            Ok(field) => field,
            Err(error) => return body.fail_multipart(&error),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(|m| m.essence_str().to_owned());
        let is_file =
            filename.is_some() || content_type.as_deref().is_some_and(|c| c != "text/plain");
        if is_file {
            let limit = limit_for(&name);
            let (size, sha256, head) = match receive_file(field, limit).await {
                Ok(received) => received,
                Err(error) => return body.fail_multipart(&error),
            };
            body.add_file(ReceivedFile {
                field: name,
                filename,
                content_type,
                size,
                sha256,
                head,
                over_limit: size > limit,
            });
        } else {
            let limit = if is_media_field(&name) {
                MEDIA_TEXT_LIMIT
            } else {
                TEXT_LIMIT
            };
            match receive_text(field, limit).await {
                Ok(Some(value)) => body.add_text(name, value),
                Ok(None) if is_media_field(&name) => {
                    body.fail(ApiError::new(400, "File is over the size limit"));
                }
                Ok(None) => body.fail(ApiError::new(400, format!("Field {name} is too long"))),
                Err(error) => return body.fail_multipart(&error),
            }
        }
    }
}

/// Streams a file: returns its size, the hex SHA-256 of its first `limit` bytes
/// (of all of it when within the limit) and its first [`HEAD_LEN`] bytes.
async fn receive_file<S, E>(mut stream: S, limit: u64) -> Result<(u64, String, Vec<u8>), E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head = Vec::with_capacity(HEAD_LEN);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size <= limit {
            hasher.update(&chunk);
        }
        if head.len() < HEAD_LEN {
            let take = (HEAD_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
    }
    Ok((size, hex(&hasher.finalize()), head))
}

/// Collects a text part; `None` when it is longer than `limit` (it is drained).
async fn receive_text<S, E>(mut stream: S, limit: usize) -> Result<Option<String>, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut buf = Vec::new();
    let mut over = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if over || buf.len() + chunk.len() > limit {
            over = true;
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((!over).then(|| String::from_utf8_lossy(&buf).into_owned()))
}

/// The MIME type a file's first bytes announce (PNG, JPEG, GIF, MP4), if any.
pub(crate) fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.get(4..8) == Some(b"ftyp") {
        Some("video/mp4")
    } else {
        None
    }
}

/// Width and height from a PNG's IHDR chunk.
pub(crate) fn png_size(head: &[u8]) -> Option<(u32, u32)> {
    if sniff(head) != Some("image/png") || head.get(12..16) != Some(b"IHDR") {
        return None;
    }
    let width = u32::from_be_bytes(head.get(16..20)?.try_into().ok()?);
    let height = u32::from_be_bytes(head.get(20..24)?.try_into().ok()?);
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_size_is_read_from_the_ihdr_chunk() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&300u32.to_be_bytes());
        png.extend_from_slice(&200u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((300, 200)));
        assert_eq!(png_size(b"\xff\xd8\xff\xe0"), None);
    }

    #[test]
    fn sniff_recognises_the_four_magic_numbers() {
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff(b"hello"), None);
    }
}
