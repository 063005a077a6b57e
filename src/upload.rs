//! An upload as the gateway holds it between the client and Imgur.
//!
//! The client's file is spooled: Imgur may reject the access token
//! mid-upload, and the contract replays the upload once after a refresh, so
//! the body must be readable twice. Small files stay in memory; larger ones
//! go to a temp file in `PIXGATE_SPOOL_DIR` that is removed when the upload
//! is dropped (success, failure or client disconnect alike). A video that
//! spills to disk is also sent on while it arrives ([`LiveEvent`]), so that
//! a large upload costs little more than its way to Imgur; an image (at
//! most 10 MiB) is always spooled whole first, so that an oversized one
//! never starts a request upstream. The size limit and the other fields
//! are checked while spooling; a refused upload is never completed
//! upstream, and an oversized one is never buffered. What uploads in
//! progress hold is bounded by the [`UploadBudget`]. Every body sent
//! upstream, from the spool or live, for Imgur or Flickr, is framed by one
//! encoder, [`Multipart`].

mod budget;
mod multipart;

pub use budget::{Busy, Reservation, UploadBudget};
pub use multipart::{ByteStream, FilePart, Multipart};

use crate::model::{ImageId, InvalidInput};
use bytes::{Bytes, BytesMut};
use std::io;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// What uploads in progress may use: the budget and the spool directory.
#[derive(Clone, Debug)]
pub struct UploadStorage {
    pub budget: UploadBudget,
    pub spool_dir: PathBuf,
}

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base64Error {
    Invalid,
    TooLarge,
}

/// Decodes the base64 image data of a JSON upload straight from its JSON
/// string literal (`"..."`, escapes included, as the body holds it), so
/// that the upload holds the raw body and this one decoded copy, and no
/// unescaped or cleaned-up text between them. Accepts what Imgur's clients
/// send: a `data:...;base64,` prefix, the standard or the URL-safe
/// alphabet (not both), with canonical padding or none, whitespace and
/// JSON escapes anywhere. Refuses more than [`IMAGE_MAX_BYTES`] decoded as
/// soon as they are passed.
pub fn decode_base64_json(literal: &str) -> Result<Vec<u8>, Base64Error> {
    let text = literal
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or(Base64Error::Invalid)?;
    let mut chars = JsonChars(text.as_bytes());
    skip_data_url_prefix(&mut chars)?;
    // A bound, not the size: whitespace and escapes decode to nothing.
    let capacity = (text.len() / 4 * 3 + 3).min(IMAGE_MAX_BYTES as usize);
    let mut decoder = Base64Decoder::new(capacity);
    for c in chars {
        decoder.push(c?)?;
    }
    decoder.finish()
}

/// The characters of a JSON string literal's text, unescaped; only ASCII
/// can be base64 (or a `data:` prefix), so anything else is an error.
#[derive(Clone)]
struct JsonChars<'a>(&'a [u8]);

impl Iterator for JsonChars<'_> {
    type Item = Result<u8, Base64Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        if first != b'\\' {
            return Some(if first.is_ascii() {
                Ok(first)
            } else {
                Err(Base64Error::Invalid)
            });
        }
        let Some((&escape, rest)) = self.0.split_first() else {
            return Some(Err(Base64Error::Invalid));
        };
        self.0 = rest;
        Some(match escape {
            b'"' | b'\\' | b'/' => Ok(escape),
            b'b' => Ok(0x08),
            b'f' => Ok(0x0c),
            b'n' => Ok(b'\n'),
            b'r' => Ok(b'\r'),
            b't' => Ok(b'\t'),
            b'u' if self.0.len() >= 4 => {
                let (hex, rest) = self.0.split_at(4);
                self.0 = rest;
                std::str::from_utf8(hex)
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .filter(u8::is_ascii)
                    .ok_or(Base64Error::Invalid)
            }
            _ => Err(Base64Error::Invalid),
        })
    }
}

/// Skips a `data:<type>;base64,` prefix, if the text starts with one.
fn skip_data_url_prefix(chars: &mut JsonChars<'_>) -> Result<(), Base64Error> {
    const LONGEST_PREFIX: usize = 256;
    let mut ahead = chars.clone();
    let mut prefix = Vec::new();
    while prefix.len() < LONGEST_PREFIX {
        match ahead.next() {
            Some(Ok(c)) => prefix.push(c),
            Some(Err(_)) | None => break,
        }
        if !b"data:".starts_with(&prefix[..prefix.len().min(5)]) {
            return Ok(());
        }
        if prefix.ends_with(b";base64,") {
            *chars = ahead;
            return Ok(());
        }
    }
    if prefix.starts_with(b"data:") {
        // A data URL that is not base64, or whose type is absurdly long.
        return Err(Base64Error::Invalid);
    }
    Ok(())
}

/// Standard or URL-safe: a text may use one of them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    Standard,
    UrlSafe,
}

/// Base64 decoding one character at a time, into one buffer.
struct Base64Decoder {
    out: Vec<u8>,
    /// Bits read but not yet output (fewer than 8).
    pending: u32,
    pending_bits: u32,
    symbols: usize,
    padding: usize,
    alphabet: Option<Alphabet>,
}

impl Base64Decoder {
    fn new(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            pending: 0,
            pending_bits: 0,
            symbols: 0,
            padding: 0,
            alphabet: None,
        }
    }

    fn push(&mut self, c: u8) -> Result<(), Base64Error> {
        if c.is_ascii_whitespace() {
            return Ok(());
        }
        if c == b'=' {
            self.padding += 1;
            return if self.padding <= 2 {
                Ok(())
            } else {
                Err(Base64Error::Invalid)
            };
        }
        if self.padding > 0 {
            return Err(Base64Error::Invalid);
        }
        let (value, alphabet) = match c {
            b'A'..=b'Z' => (c - b'A', None),
            b'a'..=b'z' => (c - b'a' + 26, None),
            b'0'..=b'9' => (c - b'0' + 52, None),
            b'+' => (62, Some(Alphabet::Standard)),
            b'/' => (63, Some(Alphabet::Standard)),
            b'-' => (62, Some(Alphabet::UrlSafe)),
            b'_' => (63, Some(Alphabet::UrlSafe)),
            _ => return Err(Base64Error::Invalid),
        };
        if let Some(alphabet) = alphabet {
            if *self.alphabet.get_or_insert(alphabet) != alphabet {
                return Err(Base64Error::Invalid);
            }
        }
        self.symbols += 1;
        self.pending = (self.pending << 6) | u32::from(value);
        self.pending_bits += 6;
        if self.pending_bits >= 8 {
            self.pending_bits -= 8;
            self.out.push((self.pending >> self.pending_bits) as u8);
            self.pending &= (1 << self.pending_bits) - 1;
            if self.out.len() as u64 > IMAGE_MAX_BYTES {
                return Err(Base64Error::TooLarge);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, Base64Error> {
        let partial = self.symbols % 4;
        let padding_fits = match self.padding {
            0 => true,
            pads => partial != 0 && partial + pads == 4,
        };
        // One symbol carries too few bits for a byte; the bits left over
        // must be zero (as the `base64` crate requires).
        if partial == 1 || !padding_fits || self.pending != 0 || self.out.is_empty() {
            return Err(Base64Error::Invalid);
        }
        Ok(self.out)
    }
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
    /// A spool of bytes already in memory (a decoded base64 upload).
    pub fn in_memory(bytes: Bytes) -> Self {
        let len = bytes.len() as u64;
        Self {
            storage: Storage::Memory(bytes),
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The spooled bytes as a stream, read in [`SPOOL_READ_CHUNK`]s from
    /// disk (or the one in-memory buffer), for an upload's body.
    pub async fn stream(&self) -> io::Result<ByteStream> {
        use futures_util::StreamExt;
        Ok(match self.reader().await? {
            SpoolReader::Memory(bytes) => futures_util::stream::once(async { Ok(bytes) }).boxed(),
            SpoolReader::File(file) => {
                tokio_util::io::ReaderStream::with_capacity(file, SPOOL_READ_CHUNK).boxed()
            }
        })
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
    dir: PathBuf,
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
    /// A writer that refuses more than `limit` bytes, and makes its temp
    /// file in `dir` once the file outgrows memory.
    pub fn new(limit: u64, dir: &Path) -> Self {
        Self {
            limit,
            dir: dir.to_owned(),
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
                .tempfile_in(&self.dir)?
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
        let mut writer = SpoolWriter::new(10 * 1024 * 1024, &std::env::temp_dir());
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
        let mut writer = SpoolWriter::new(10, &std::env::temp_dir());
        writer
            .write(b"0123456789")
            .await
            .expect("at the limit is fine");
        assert!(matches!(
            writer.write(b"x").await,
            Err(SpoolError::TooLarge { limit: 10 })
        ));
    }

    /// A JSON string literal of `text`, as serde_json writes it.
    fn literal(text: &str) -> String {
        serde_json::to_string(text).expect("a string")
    }

    /// What the `base64` crate accepts: whitespace removed, then the
    /// standard or URL-safe alphabet, padded canonically or not at all.
    fn reference_decode(text: &str) -> Option<Vec<u8>> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use base64::Engine;
        let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(&cleaned).ok())
            .filter(|bytes| !bytes.is_empty())
    }

    #[test]
    fn base64_is_decoded_from_the_json_literal_as_clients_send_it() {
        let hello = Ok(b"hello".to_vec());
        type Case<'a> = (&'a str, &'a str, Result<Vec<u8>, Base64Error>);
        let cases: &[Case] = &[
            ("padded", r#""aGVsbG8=""#, hello.clone()),
            ("unpadded", r#""aGVsbG8""#, hello.clone()),
            (
                "a data URL",
                r#""data:image/png;base64,aGVsbG8=""#,
                hello.clone(),
            ),
            (
                "a data URL with an escaped slash",
                r#""data:image\/png;base64,aGVsbG8=""#,
                hello.clone(),
            ),
            (
                "line breaks as escapes",
                r#""aGVs\nbG8=\r\n""#,
                hello.clone(),
            ),
            ("spaces", r#"" aGVs bG8= ""#, hello.clone()),
            ("a unicode escape", r#""\u0061GVsbG8=""#, hello.clone()),
            ("URL-safe", r#""-_8=""#, Ok(vec![0xfb, 0xff])),
            ("standard", r#""+/8=""#, Ok(vec![0xfb, 0xff])),
            ("both alphabets", r#""+_8=""#, Err(Base64Error::Invalid)),
            (
                "too much padding",
                r#""aGVsbG8==""#,
                Err(Base64Error::Invalid),
            ),
            (
                "padding inside",
                r#""aGVs=bG8=""#,
                Err(Base64Error::Invalid),
            ),
            ("a lone symbol", r#""aGVsb""#, Err(Base64Error::Invalid)),
            (
                "trailing bits set",
                r#""aGVsbG9=""#,
                Err(Base64Error::Invalid),
            ),
            ("not base64", r#""not base64!""#, Err(Base64Error::Invalid)),
            (
                "a non-ASCII escape",
                r#""aGVs\u00e9bG8=""#,
                Err(Base64Error::Invalid),
            ),
            ("non-ASCII", "\"aGVs\u{e9}bG8=\"", Err(Base64Error::Invalid)),
            (
                "a data URL that is not base64",
                r#""data:text/plain,hello""#,
                Err(Base64Error::Invalid),
            ),
            ("empty", r#""""#, Err(Base64Error::Invalid)),
            ("only padding", r#""====""#, Err(Base64Error::Invalid)),
            ("not a string", "42", Err(Base64Error::Invalid)),
        ];
        for (case, json, expected) in cases {
            assert_eq!(&decode_base64_json(json), expected, "{case}");
        }
    }

    #[test]
    fn base64_over_10_mib_decoded_is_too_large() {
        use base64::Engine;
        let at_limit = vec![7u8; IMAGE_MAX_BYTES as usize];
        let over = vec![7u8; IMAGE_MAX_BYTES as usize + 1];
        let encode =
            |bytes: &[u8]| literal(&base64::engine::general_purpose::STANDARD.encode(bytes));
        assert_eq!(
            decode_base64_json(&encode(&at_limit)).as_deref(),
            Ok(&at_limit[..])
        );
        assert_eq!(
            decode_base64_json(&encode(&over)),
            Err(Base64Error::TooLarge)
        );
    }

    #[test]
    fn only_http_urls_are_uploaded() {
        assert!(validate_url("https://example.com/cat.png").is_ok());
        assert!(validate_url("file:///etc/passwd").is_err());
        assert!(validate_url("not a url").is_err());
    }

    proptest::proptest! {
        #[test]
        fn base64_of_any_bytes_decodes_to_them_in_either_alphabet(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..2048),
            url_safe in proptest::bool::ANY,
            padded in proptest::bool::ANY,
        ) {
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
            use base64::Engine;
            let engine = match (url_safe, padded) {
                (false, true) => STANDARD,
                (false, false) => STANDARD_NO_PAD,
                (true, true) => URL_SAFE,
                (true, false) => URL_SAFE_NO_PAD,
            };
            let decoded = decode_base64_json(&literal(&engine.encode(&bytes)));
            proptest::prop_assert_eq!(decoded, Ok(bytes));
        }

        #[test]
        fn base64_text_is_accepted_exactly_when_the_base64_crate_accepts_it(text in "[A-Za-z0-9+/_=\\- \n-]{0,24}") {
            let ours = decode_base64_json(&literal(&text)).ok();
            proptest::prop_assert_eq!(ours, reference_decode(&text));
        }

        #[test]
        fn no_text_makes_the_upload_validators_panic(text in "\\PC{0,200}") {
            let _ = decode_base64_json(&text);
            let _ = decode_base64_json(&literal(&text));
            let _ = validate_url(&text);
        }
    }
}
