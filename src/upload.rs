//! An upload as the gateway holds it between the client and Imgur.
//!
//! The client's file is spooled: Imgur may reject the access token
//! mid-upload, and the contract replays the upload once after a refresh, so
//! the body must be readable twice. Small files stay in memory; larger ones
//! go to a temp file that is removed when the upload is dropped (success,
//! failure or client disconnect alike). A file that spills to disk is also
//! sent on while it arrives ([`LiveEvent`]), so that a large upload costs
//! little more than its way to Imgur. The size limit and the other fields
//! are checked while spooling; a refused upload is never completed
//! upstream, and an oversized one is never buffered.

use crate::model::{ImageId, InvalidInput};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use std::io;
use std::io::Write;

/// Imgur's limit for the `image` field.
pub const IMAGE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Imgur's limit for the `video` field.
pub const VIDEO_MAX_BYTES: u64 = 200 * 1024 * 1024;
/// Spools up to this size stay in memory.
const MEMORY_SPOOL_BYTES: usize = 2 * 1024 * 1024;
/// A spool file is written in blocks this large: each write is a hop to
/// the blocking pool, so small writes are slow.
const SPOOL_BLOCK: usize = 1024 * 1024;
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
    pub fields: UploadFields,
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

/// The optional text fields (validated once they are in an [`Upload`]).
#[derive(Clone, Debug, Default)]
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
        Ok(Self { source, fields })
    }

    /// Drops the upload; a spool file is deleted on the blocking pool, since
    /// unlinking hundreds of MiB takes milliseconds an answer need not wait.
    pub fn drop_in_background(self) {
        let on_disk = matches!(
            &self.source,
            UploadSource::Image(file) | UploadSource::Video(file)
                if matches!(file.spool.storage, Storage::File(_))
        );
        if on_disk {
            tokio::task::spawn_blocking(move || drop(self));
        }
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

/// What the request handler passes to the first upstream attempt of a file
/// upload while the client is still sending it, so that the upload reaches
/// Imgur as it arrives instead of after the whole file was spooled. The
/// attempt starts only for files that outgrow the in-memory spool; the
/// spool is still written in full, for a replay.
#[derive(Debug)]
pub enum LiveEvent {
    /// The file part begins.
    File {
        video: bool,
        file_name: String,
        content_type: Option<String>,
    },
    /// The file's next bytes.
    Chunk(Bytes),
    /// The whole request was read and validated: the fields to send after
    /// the file. A channel that closes without this aborts the attempt, so
    /// Imgur never receives a complete request for a refused upload.
    Complete(UploadFields),
}

/// How many events (blocks of up to about [`SPOOL_BLOCK`] bytes) may wait
/// for the upstream connection: beyond them, the client is read no faster
/// than Imgur takes the bytes.
const LIVE_BACKLOG: usize = 4;

/// The handler's side of a live upload.
pub struct LiveSender {
    sender: Option<tokio::sync::mpsc::Sender<LiveEvent>>,
    started: bool,
    /// The request's file has ended: no other file goes out.
    file_ended: bool,
}

/// The upstream side of a live upload.
pub type LiveEvents = tokio::sync::mpsc::Receiver<LiveEvent>;

/// A new live upload channel.
pub fn live_channel() -> (LiveSender, LiveEvents) {
    let (sender, events) = tokio::sync::mpsc::channel(LIVE_BACKLOG);
    let sender = LiveSender {
        sender: Some(sender),
        started: false,
        file_ended: false,
    };
    (sender, events)
}

impl LiveSender {
    /// Passes on a block of `file` that went to its spool file (a file that
    /// fits in memory never gets here). The first block starts the attempt.
    pub async fn file_block(&mut self, file: &LiveFile<'_>, block: Bytes) {
        if self.file_ended {
            return;
        }
        if !self.started {
            self.started = true;
            let start = LiveEvent::File {
                video: file.video,
                file_name: file.file_name.to_owned(),
                content_type: file.content_type.map(str::to_owned),
            };
            self.send(start).await;
        }
        self.send(LiveEvent::Chunk(block)).await;
    }

    /// The request's file ended. Only a file that spilled to disk goes
    /// live, and only one per request (an unused, empty form field before
    /// it does not count).
    pub fn file_end(&mut self) {
        self.file_ended = true;
        if !self.started {
            self.sender = None;
        }
    }

    /// The request was read and validated: completes a started attempt.
    pub async fn complete(mut self, upload: &Upload) {
        if self.started {
            self.send(LiveEvent::Complete(upload.fields.clone())).await;
        }
    }

    async fn send(&mut self, event: LiveEvent) {
        if let Some(sender) = &self.sender {
            // The attempt ended (answered or failed): the spool carries on alone.
            if sender.send(event).await.is_err() {
                self.sender = None;
            }
        }
    }
}

/// The file part a [`LiveSender`] announces.
pub struct LiveFile<'a> {
    pub video: bool,
    pub file_name: &'a str,
    pub content_type: Option<&'a str>,
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

/// Collects a file's chunks, in memory first, then on disk in blocks of
/// [`SPOOL_BLOCK`] bytes. Each block is written on the blocking pool while
/// the next one fills, and handed back so that a live upload can send the
/// same bytes on without reading them from the disk again.
pub struct SpoolWriter {
    limit: u64,
    len: u64,
    /// The whole file while it fits in memory, then the next block.
    buffer: BytesMut,
    file: Option<SpoolFile>,
}

struct SpoolFile {
    file: std::sync::Arc<std::fs::File>,
    path: tempfile::TempPath,
    /// The block being written (one at a time, so they land in order).
    writing: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl SpoolFile {
    async fn write(&mut self, block: Bytes) -> io::Result<()> {
        self.wait().await?;
        let file = std::sync::Arc::clone(&self.file);
        self.writing = Some(tokio::task::spawn_blocking(move || {
            (&*file).write_all(&block)
        }));
        Ok(())
    }

    async fn wait(&mut self) -> io::Result<()> {
        match self.writing.take() {
            Some(writing) => writing.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl SpoolWriter {
    /// A writer that refuses more than `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            len: 0,
            buffer: BytesMut::new(),
            file: None,
        }
    }

    /// Appends a chunk; fails as soon as the limit is passed. Returns the
    /// block that went to disk, if this chunk completed one.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<Option<Bytes>, SpoolError> {
        self.len += chunk.len() as u64;
        if self.len > self.limit {
            return Err(SpoolError::TooLarge { limit: self.limit });
        }
        self.buffer.extend_from_slice(chunk);
        let full = match self.file {
            None => MEMORY_SPOOL_BYTES,
            Some(_) => SPOOL_BLOCK,
        };
        if self.buffer.len() <= full {
            return Ok(None);
        }
        if self.file.is_none() {
            let (file, path) = tempfile::Builder::new()
                .prefix("pixgate-upload-")
                .tempfile()?
                .into_parts();
            self.file = Some(SpoolFile {
                file: std::sync::Arc::new(file),
                path,
                writing: None,
            });
        }
        let block = self.buffer.split().freeze();
        self.buffer.reserve(SPOOL_BLOCK);
        if let Some(file) = &mut self.file {
            file.write(block.clone()).await?;
        }
        Ok(Some(block))
    }

    /// Finishes the spool; for a file on disk, also returns its last block.
    pub async fn finish(mut self) -> Result<(Spool, Option<Bytes>), SpoolError> {
        let len = self.len;
        let buffer = self.buffer.split().freeze();
        let Some(mut file) = self.file.take() else {
            let storage = Storage::Memory(buffer);
            return Ok((Spool { storage, len }, None));
        };
        let last = (!buffer.is_empty()).then_some(buffer);
        if let Some(block) = &last {
            file.write(block.clone()).await?;
        }
        file.wait().await?;
        let storage = Storage::File(file.path);
        Ok((Spool { storage, len }, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_large_spool_goes_to_disk_in_blocks_and_is_removed_on_drop() {
        let mut writer = SpoolWriter::new(10 * 1024 * 1024);
        let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let mut blocks = Vec::new();
        for _ in 0..4 {
            blocks.extend(writer.write(&chunk).await.expect("written"));
        }
        let (spool, last) = writer.finish().await.expect("finished");
        blocks.extend(last);
        assert_eq!(spool.len(), 4 * 1024 * 1024);
        let handed_back: Vec<u8> = blocks.concat();
        assert_eq!(
            handed_back,
            chunk.repeat(4),
            "the blocks are the file, in order"
        );
        let Storage::File(path) = &spool.storage else {
            panic!("4 MiB should be on disk");
        };
        let path = path.to_path_buf();
        assert_eq!(std::fs::read(&path).expect("readable"), handed_back);
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
