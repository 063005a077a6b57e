//! Reading request bodies: an urlencoded form, or multipart with text
//! fields and file parts. A file part is never buffered: each chunk goes
//! into a SHA-256 hasher as it arrives and only its size and hash are kept.
//! A part is a file when it has a filename (as Flickr tells them apart: a
//! `photo` sent as a text field is a text field, and is signed).

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use bytes::BytesMut;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::ReceivedFile;
use crate::flickr::signing::form_pairs;

/// A whole urlencoded body.
const FORM_LIMIT: usize = 1024 * 1024;
/// One multipart text field.
const TEXT_LIMIT: usize = 64 * 1024;

/// A request body as received.
#[derive(Debug, Default)]
pub(crate) struct Body {
    /// Urlencoded pairs or multipart text fields, decoded, in order: what
    /// Flickr signs besides the query and the OAuth header.
    pub(crate) fields: Vec<(String, String)>,
    /// Whether the body was multipart.
    pub(crate) multipart: bool,
    /// File parts.
    pub(crate) files: Vec<ReceivedFile>,
    /// Why the body could not be read, if it could not.
    pub(crate) problem: Option<String>,
    /// The connection ended before the body did: not served.
    pub(crate) cut_off: bool,
}

/// Reads the body of `req` by its content type; any other body is drained.
pub(crate) async fn read(req: &HttpRequest, mut payload: web::Payload) -> Body {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let mut body = Body::default();
    if essence == "multipart/form-data" {
        body.multipart = true;
        read_multipart(req, payload, &mut body).await;
        return body;
    }
    let mut bytes = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if bytes.len() + chunk.len() <= FORM_LIMIT => bytes.extend_from_slice(&chunk),
            Ok(_) => body.problem = Some("body too large".into()),
            Err(_) => {
                body.cut_off = true;
                return body;
            }
        }
    }
    if essence == "application/x-www-form-urlencoded" && body.problem.is_none() {
        match std::str::from_utf8(&bytes) {
            Ok(text) => body.fields = form_pairs(text),
            Err(_) => body.problem = Some("form body is not UTF-8".into()),
        }
    }
    body
}

async fn read_multipart(req: &HttpRequest, payload: web::Payload, body: &mut Body) {
    let mut multipart = Multipart::new(req.headers(), payload);
    while let Some(item) = multipart.next().await {
        let mut field = match item {
            Ok(field) => field,
            Err(error) => return fail(body, &error),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(|m| m.essence_str().to_owned());
        if file_name.is_some() {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = field.next().await {
                match chunk {
                    Ok(chunk) => {
                        size += chunk.len() as u64;
                        hasher.update(&chunk);
                    }
                    Err(error) => return fail(body, &error),
                }
            }
            body.files.push(ReceivedFile {
                field: name,
                file_name,
                content_type,
                size,
                sha256: format!("{:x}", hasher.finalize()),
            });
        } else {
            let mut text = Vec::new();
            while let Some(chunk) = field.next().await {
                match chunk {
                    Ok(chunk) if text.len() + chunk.len() <= TEXT_LIMIT => {
                        text.extend_from_slice(&chunk)
                    }
                    Ok(_) => body.problem = Some(format!("field {name} is too long")),
                    Err(error) => return fail(body, &error),
                }
            }
            body.fields
                .push((name, String::from_utf8_lossy(&text).into_owned()));
        }
    }
}

fn fail(body: &mut Body, error: &actix_multipart::MultipartError) {
    use actix_multipart::MultipartError;
    body.cut_off |= matches!(
        error,
        MultipartError::Incomplete | MultipartError::Payload(_)
    );
    body.problem
        .get_or_insert_with(|| format!("malformed multipart body: {error}"));
}
