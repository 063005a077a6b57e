//! An upload as the gateway holds it between the client and Imgur.
//!
//! The client's file is spooled, not streamed straight through: Imgur may
//! reject the access token mid-upload, and the contract replays the upload
//! once after a refresh, so the body must be readable twice. Small files stay
//! in memory; larger ones go to a temp file that is removed when the upload
//! is dropped (success, failure or client disconnect alike). The size limit
//! is enforced while spooling, so an oversized upload is refused before
//! anything is forwarded and without buffering it.

use crate::model::{ImageId, InvalidInput};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use std::io;
use tokio::io::AsyncWriteExt;

/// Imgur's limit for the `image` field.
pub const IMAGE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Imgur's limit for the `video` field.
pub const VIDEO_MAX_BYTES: u64 = 200 * 1024 * 1024;
/// Spools up to this size stay in memory.
const MEMORY_SPOOL_BYTES: usize = 2 * 1024 * 1024;
/// Writes to a spool file go through a buffer this large: tokio's file
/// I/O hops to the blocking pool per call, so small writes are slow.
const SPOOL_WRITE_BUFFER: usize = 1024 * 1024;
/// Reads back from a spool file in chunks this large, for the same reason.
pub const SPOOL_READ_CHUNK: usize = 256 * 1024;
/// Longest title, description, album or name accepted, in bytes.
pub const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;
/// Longest URL accepted for a URL upload.
const MAX_URL_BYTES: usize = 2048;

/// What to upload, with Imgur's optional fields.
#[derive(Debug)]
pub struct Upload {
    pub source: UploadSource,
    pub title: Option<String>,
    pub description: Option<String>,
    pub album: Option<String>,
    pub name: Option<String>,
    pub disable_audio: bool,
}

/// The media of an upload.
#[derive(Debug)]
pub enum UploadSource {
    Image(UploadFile),
    Video(UploadFile),
    /// A remote image Imgur fetches itself.
    Url(String),
    /// Base64 image data, validated and size-checked.
    Base64(Bytes),
}

/// A spooled file with the name and type the client gave.
#[derive(Debug)]
pub struct UploadFile {
    pub spool: Spool,
    pub file_name: String,
    pub content_type: Option<String>,
}

/// The optional text fields, as received.
#[derive(Debug, Default)]
pub struct UploadFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub album: Option<String>,
    pub name: Option<String>,
    pub disable_audio: bool,
}

impl Upload {
    /// Validates the optional fields around an already validated source.
    pub fn new(source: UploadSource, fields: UploadFields) -> Result<Self, InvalidInput> {
        for (name, value) in [
            ("title", &fields.title),
            ("description", &fields.description),
            ("name", &fields.name),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.len() > MAX_TEXT_FIELD_BYTES)
            {
                return Err(InvalidInput(format!(
                    "\"{name}\" is longer than {MAX_TEXT_FIELD_BYTES} bytes"
                )));
            }
        }
        if let Some(album) = &fields.album {
            ImageId::parse(album).map_err(|_| {
                InvalidInput(
                    "\"album\" must be an album id or deletehash: 1 to 32 ASCII letters and digits"
                        .into(),
                )
            })?;
        }
        Ok(Self {
            source,
            title: fields.title,
            description: fields.description,
            album: fields.album,
            name: fields.name,
            disable_audio: fields.disable_audio,
        })
    }

    /// Bytes to send (for the upload's timeout).
    pub fn size(&self) -> u64 {
        match &self.source {
            UploadSource::Image(f) | UploadSource::Video(f) => f.spool.len(),
            UploadSource::Base64(b) => b.len() as u64,
            UploadSource::Url(u) => u.len() as u64,
        }
    }
}

/// Checks a URL upload: http or https only.
pub fn validate_url(raw: &str) -> Result<UploadSource, InvalidInput> {
    let raw = raw.trim();
    let ok = raw.len() <= MAX_URL_BYTES
        && reqwest::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if ok {
        Ok(UploadSource::Url(raw.to_owned()))
    } else {
        Err(InvalidInput(format!(
            "\"url\" must be an http or https URL of at most {MAX_URL_BYTES} bytes"
        )))
    }
}

/// Why base64 data was refused.
#[derive(Debug)]
pub enum Base64Error {
    Invalid,
    TooLarge,
}

/// Checks base64 image data (a `data:` URL prefix is accepted) and its
/// decoded size against the image limit.
pub fn validate_base64(raw: &str) -> Result<UploadSource, Base64Error> {
    let data = match raw.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => raw,
    };
    let cleaned: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    // Cheap bound before decoding: 4 characters carry 3 bytes.
    if (cleaned.len() as u64 / 4) * 3 > IMAGE_MAX_BYTES + 3 {
        return Err(Base64Error::TooLarge);
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let decoded_len = engines
        .iter()
        .find_map(|engine| engine.decode(&cleaned).ok())
        .ok_or(Base64Error::Invalid)?
        .len() as u64;
    if decoded_len == 0 {
        return Err(Base64Error::Invalid);
    }
    if decoded_len > IMAGE_MAX_BYTES {
        return Err(Base64Error::TooLarge);
    }
    Ok(UploadSource::Base64(Bytes::from(cleaned)))
}

/// A finished spool: the bytes in memory or in a temp file that is deleted
/// when the spool is dropped.
#[derive(Debug)]
pub struct Spool {
    storage: Storage,
    len: u64,
}

#[derive(Debug)]
enum Storage {
    Memory(Bytes),
    File(tempfile::TempPath),
}

/// A fresh reader over a spool, for one attempt.
pub enum SpoolReader {
    Memory(Bytes),
    File(tokio::fs::File),
}

impl Spool {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Opens the spool from the start.
    pub async fn reader(&self) -> io::Result<SpoolReader> {
        match &self.storage {
            Storage::Memory(bytes) => Ok(SpoolReader::Memory(bytes.clone())),
            Storage::File(path) => Ok(SpoolReader::File(tokio::fs::File::open(path).await?)),
        }
    }
}

/// Why spooling stopped.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("could not spool the upload: {0}")]
    Io(#[from] io::Error),
}

/// Collects a file's chunks, in memory first, then on disk.
pub struct SpoolWriter {
    limit: u64,
    len: u64,
    memory: BytesMut,
    file: Option<(tokio::io::BufWriter<tokio::fs::File>, tempfile::TempPath)>,
}

impl SpoolWriter {
    /// A writer that refuses more than `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            len: 0,
            memory: BytesMut::new(),
            file: None,
        }
    }

    /// Appends a chunk; fails as soon as the limit is passed.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), SpoolError> {
        self.len += chunk.len() as u64;
        if self.len > self.limit {
            return Err(SpoolError::TooLarge { limit: self.limit });
        }
        if self.file.is_none() && self.memory.len() + chunk.len() <= MEMORY_SPOOL_BYTES {
            self.memory.extend_from_slice(chunk);
            return Ok(());
        }
        if self.file.is_none() {
            let (file, path) = tempfile::Builder::new()
                .prefix("pixgate-upload-")
                .tempfile()?
                .into_parts();
            let mut file = tokio::io::BufWriter::with_capacity(
                SPOOL_WRITE_BUFFER,
                tokio::fs::File::from_std(file),
            );
            file.write_all(&self.memory).await?;
            self.memory = BytesMut::new();
            self.file = Some((file, path));
        }
        if let Some((file, _)) = &mut self.file {
            file.write_all(chunk).await?;
        }
        Ok(())
    }

    /// Finishes the spool.
    pub async fn finish(self) -> Result<Spool, SpoolError> {
        let storage = match self.file {
            Some((mut file, path)) => {
                file.flush().await?;
                Storage::File(path)
            }
            None => Storage::Memory(self.memory.freeze()),
        };
        Ok(Spool {
            storage,
            len: self.len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_large_spool_goes_to_disk_and_is_removed_on_drop() {
        let mut writer = SpoolWriter::new(10 * 1024 * 1024);
        let chunk = vec![7u8; 1024 * 1024];
        for _ in 0..3 {
            writer.write(&chunk).await.expect("written");
        }
        let spool = writer.finish().await.expect("finished");
        assert_eq!(spool.len(), 3 * 1024 * 1024);
        let Storage::File(path) = &spool.storage else {
            panic!("3 MiB should be on disk");
        };
        let path = path.to_path_buf();
        assert_eq!(
            std::fs::metadata(&path).expect("exists").len(),
            3 * 1024 * 1024
        );
        drop(spool);
        assert!(!path.exists(), "the temp file is removed");
    }

    #[tokio::test]
    async fn spooling_stops_at_the_limit() {
        let mut writer = SpoolWriter::new(10);
        writer
            .write(b"0123456789")
            .await
            .expect("at the limit is fine");
        assert!(matches!(
            writer.write(b"x").await,
            Err(SpoolError::TooLarge { limit: 10 })
        ));
    }

    #[test]
    fn base64_is_checked_and_measured() {
        assert!(validate_base64("aGVsbG8=").is_ok());
        assert!(validate_base64("data:image/png;base64,aGVsbG8=").is_ok());
        assert!(matches!(
            validate_base64("not base64!"),
            Err(Base64Error::Invalid)
        ));
        let big =
            base64::engine::general_purpose::STANDARD
                .encode(vec![0u8; IMAGE_MAX_BYTES as usize + 1]);
        assert!(matches!(validate_base64(&big), Err(Base64Error::TooLarge)));
    }

    #[test]
    fn only_http_urls_are_uploaded() {
        assert!(validate_url("https://example.com/cat.png").is_ok());
        assert!(validate_url("file:///etc/passwd").is_err());
        assert!(validate_url("not a url").is_err());
    }

    proptest::proptest! {
        #[test]
        fn base64_of_any_bytes_is_accepted_with_its_size(bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..2048)) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let accepted = validate_base64(&encoded).is_ok();
            proptest::prop_assert!(accepted);
        }

        #[test]
        fn no_text_makes_the_upload_validators_panic(text in "\\PC{0,200}") {
            let _ = validate_base64(&text);
            let _ = validate_url(&text);
        }
    }
}
