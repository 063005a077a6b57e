//! An upload as the gateway holds it between the client and the provider:
//! one type, [`Upload`], for both providers, from the client's first byte
//! to the provider's answer.
//!
//! A request's [`Intake`] reads the file into its spool within the
//! [`UploadBudget`]: small files stay in memory, larger ones go to a temp
//! file in `PIXGATE_SPOOL_DIR` that is removed when the [`Upload`] is
//! dropped (success, failure or client disconnect alike). The spool makes
//! the body readable twice: Imgur may reject the access token mid-upload,
//! and the contract replays the upload once after a refresh. A video that
//! spills to disk is also sent on while it arrives ([`Live`]), so that a
//! large upload costs little more than its way to Imgur; an image (at most
//! 10 MiB) is always spooled whole first, so that an oversized one never
//! starts a request upstream. The size limit and the other fields are
//! checked while spooling; a refused upload is never completed upstream,
//! and an oversized one is never buffered.
//!
//! Every body sent upstream, from the spool ([`Upload::body`], or
//! [`SendBody::file`] for a stream the caller has) or live
//! ([`LiveStart::body`]), for Imgur or Flickr, is framed by one private
//! encoder; each provider's client only says which text fields go before
//! and after the file and what the file's field is called ([`Parts`]).
//!
//! The path of an Imgur upload: the handler reads the form through an
//! [`Intake`] into an [`ImageUpload`] while the gateway's one upload
//! operation hands the intake's [`Live`] end to the Imgur client; the
//! client sends the live body if the video outgrows memory, and, if that
//! attempt failed before its body ended (or Imgur rejected the token),
//! sends again from the spool ([`Upload::body`]). A Flickr photo is read
//! the same way without a live end (see `gateway::FlickrUpload` for why).

mod budget;
mod live;
mod multipart;
mod spool;

pub use budget::{Busy, Reservation, UploadBudget};
pub use live::{Completion, Live, LiveStart};
pub use multipart::{ByteStream, FileHead, Parts, SendBody};
pub use spool::SpoolError;

use crate::model::{ImageId, InvalidInput};
use bytes::Bytes;
use live::LiveSender;
use spool::{Spool, SpoolWriter};
use std::io;
use std::path::PathBuf;

/// Imgur's limit for the `image` field.
pub const IMAGE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Imgur's limit for the `video` field.
pub const VIDEO_MAX_BYTES: u64 = 200 * 1024 * 1024;
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

/// One file a client uploads: the name and type it gave, its spooled
/// bytes, and its share of the upload budget. Dropping it gives the
/// budget back at once and deletes a spool file on the blocking pool
/// (unlinking hundreds of MiB takes milliseconds an answer need not wait).
#[derive(Debug)]
pub struct Upload {
    head: FileHead,
    spool: Spool,
    /// Exactly the spool's bytes, given back when the upload is dropped.
    _held: Reservation,
}

impl Upload {
    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.spool.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spool.is_empty()
    }

    /// The file's name and media type, as the client gave them.
    pub fn head(&self) -> &FileHead {
        &self.head
    }

    /// A body for one attempt: `parts` around the file, read from the
    /// spool from its start, with its length. Each call is a fresh body,
    /// so a replay sends the same bytes again.
    pub async fn body(&self, parts: Parts<'_>) -> io::Result<SendBody> {
        let bytes = self.spool.stream().await?;
        Ok(SendBody::file(parts, &self.head, bytes, Some(self.len())))
    }

    /// The file's bytes from the spool's start, for a client whose public
    /// method takes a stream (Flickr's).
    pub async fn stream(&self) -> io::Result<ByteStream> {
        self.spool.stream().await
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(path) = self.spool.take_file() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(move || drop(path))),
                Err(_) => drop(path),
            }
        }
    }
}

/// A request's upload while it arrives: the budget it holds (its whole
/// `Content-Length` up front when known, else each chunk as it comes), the
/// spool directory, and the live end, when the provider takes one. Each
/// file part is read through [`Intake::file`] or [`Intake::live_video`];
/// the finished [`Upload`] takes its own bytes of the reservation, and
/// the rest is given back when the intake is dropped.
///
/// The intake belongs to the one future reading the request's form (each
/// file part borrows it mutably while it is read), so its reservation and
/// live sender need no lock; the count shared with other requests is the
/// [`UploadBudget`]'s, changed only through reservations. Dropped at any
/// `.await` (the client went away), it gives its bytes back and fails a
/// live body before its end.
pub struct Intake {
    spool_dir: PathBuf,
    held: Reservation,
    live: Option<LiveSender>,
}

impl Intake {
    /// Reserves `length` bytes (a body's `Content-Length`), or is busy.
    pub fn new(storage: &UploadStorage, length: Option<u64>) -> Result<Self, Busy> {
        Ok(Self {
            spool_dir: storage.spool_dir.clone(),
            held: storage.budget.reserve(length.unwrap_or(0))?,
            live: None,
        })
    }

    /// The live end for the provider: a video read with
    /// [`Intake::live_video`] that outgrows memory is passed to it as it
    /// arrives. `size_hint` bounds the request's size.
    pub fn live(&mut self, size_hint: u64) -> Live {
        let (sender, live) = live::channel(size_hint);
        self.live = Some(sender);
        live
    }

    /// Counts `bytes` more as held (a JSON body as it arrives).
    pub fn hold(&mut self, bytes: u64) -> Result<(), Busy> {
        self.held.hold(bytes)
    }

    /// Gives back `bytes` no longer held (a JSON body once decoded).
    pub fn release(&mut self, bytes: u64) {
        self.held.release(bytes);
    }

    /// A file part spooled whole before anything goes upstream, refused
    /// past `limit` bytes.
    pub fn file(&mut self, head: FileHead, limit: u64) -> FileWriter<'_> {
        self.writer(head, limit, false)
    }

    /// A video part: spooled like [`Intake::file`], and once it outgrows
    /// memory also passed to the [`Live`] end as it arrives (the first such
    /// file of the request only).
    pub fn live_video(&mut self, head: FileHead, limit: u64) -> FileWriter<'_> {
        self.writer(head, limit, true)
    }

    fn writer(&mut self, head: FileHead, limit: u64, live: bool) -> FileWriter<'_> {
        let spool = SpoolWriter::new(limit, &self.spool_dir);
        FileWriter {
            intake: self,
            head,
            spool,
            live,
        }
    }

    /// A file already in memory whose bytes are held (a decoded base64 image).
    pub fn in_memory(&mut self, head: FileHead, bytes: Bytes) -> Upload {
        let spool = Spool::in_memory(bytes);
        let held = self.held.split_off(spool.len());
        Upload {
            head,
            spool,
            _held: held,
        }
    }

    /// The request was read and validated: a live attempt may end its body
    /// with `fields`. Without this call the live body fails before its end.
    pub async fn complete(&mut self, fields: &UploadFields) {
        if let Some(live) = &mut self.live {
            live.complete(fields).await;
        }
    }
}

/// Reads one file part into its spool (see [`Intake::file`]).
pub struct FileWriter<'a> {
    intake: &'a mut Intake,
    head: FileHead,
    spool: SpoolWriter,
    live: bool,
}

impl FileWriter<'_> {
    /// Appends a chunk: held in the budget, spooled, and passed on live.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), SpoolError> {
        self.intake.held.hold(chunk.len() as u64)?;
        if let Some(block) = self.spool.write(chunk).await? {
            Self::send_live(self.live, self.intake, &self.head, block).await;
        }
        Ok(())
    }

    /// The file ended: the finished upload (possibly empty: an unused
    /// form field).
    pub async fn finish(self) -> Result<Upload, SpoolError> {
        let (spool, last_block) = self.spool.finish().await?;
        if let Some(block) = last_block {
            Self::send_live(self.live, self.intake, &self.head, block).await;
        }
        if self.live && !spool.is_empty() {
            if let Some(live) = &mut self.intake.live {
                live.file_end();
            }
        }
        let held = self.intake.held.split_off(spool.len());
        Ok(Upload {
            head: self.head,
            spool,
            _held: held,
        })
    }

    async fn send_live(live: bool, intake: &mut Intake, head: &FileHead, block: Bytes) {
        if let (true, Some(sender)) = (live, &mut intake.live) {
            sender.file_block(head, block).await;
        }
    }
}

/// What to upload to Imgur, with its optional fields.
#[derive(Debug)]
pub struct ImageUpload {
    pub source: UploadSource,
    pub fields: UploadFields,
}

/// The media of an Imgur upload.
#[derive(Debug)]
pub enum UploadSource {
    Image(Upload),
    Video(Upload),
    /// A remote image Imgur fetches itself.
    Url(String),
}

/// Imgur's optional text fields (validated once they are in an [`ImageUpload`]).
#[derive(Clone, Debug, Default)]
pub struct UploadFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub album: Option<String>,
    pub name: Option<String>,
    pub disable_audio: bool,
}

impl ImageUpload {
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

    /// Bytes to send (for the upload's timeout).
    pub fn size(&self) -> u64 {
        match &self.source {
            UploadSource::Image(f) | UploadSource::Video(f) => f.len(),
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    fn storage(budget: u64, dir: &std::path::Path) -> UploadStorage {
        UploadStorage {
            budget: UploadBudget::new(budget),
            spool_dir: dir.to_owned(),
        }
    }

    fn head() -> FileHead {
        FileHead {
            file_name: "clip.mp4".into(),
            content_type: Some("video/mp4".into()),
        }
    }

    fn file_of(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn files_in(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).expect("readable").count()
    }

    /// Writes `bytes` through a live video writer in 256 KiB chunks.
    async fn write_video(intake: &mut Intake, bytes: &[u8]) -> Upload {
        let mut writer = intake.live_video(head(), VIDEO_MAX_BYTES);
        for chunk in bytes.chunks(256 * 1024) {
            writer.write(chunk).await.expect("spooled");
        }
        writer.finish().await.expect("finished")
    }

    /// Imgur's order: the file, then `type` and a title.
    fn after(fields: &UploadFields) -> Vec<(&'static str, String)> {
        let mut out = vec![("type", "file".to_owned())];
        out.extend(fields.title.clone().map(|t| ("title", t)));
        out
    }

    /// A body with its boundary replaced, to compare two bodies' framing;
    /// and its length as sent.
    async fn framed(body: SendBody) -> (Vec<u8>, u64) {
        let boundary = body
            .content_type
            .rsplit("boundary=")
            .next()
            .expect("a boundary")
            .to_owned();
        let bytes = body.collect().await.expect("the whole body");
        (
            replace(&bytes, boundary.as_bytes(), b"BOUNDARY"),
            bytes.len() as u64,
        )
    }

    fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(haystack.len());
        let mut rest = haystack;
        while !rest.is_empty() {
            if rest.starts_with(needle) {
                out.extend_from_slice(with);
                rest = &rest[needle.len()..];
            } else {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
        out
    }

    #[tokio::test]
    async fn a_file_up_to_2_mib_stays_in_memory_and_never_goes_live() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut intake = Intake::new(&storage(8 * MIB as u64, dir.path()), None).expect("room");
        let live = intake.live(0);
        let at_threshold = file_of(2 * MIB);

        let upload = write_video(&mut intake, &at_threshold).await;
        drop(intake);

        assert_eq!(upload.len(), at_threshold.len() as u64);
        assert_eq!(files_in(dir.path()), 0, "no spool file");
        assert!(live.start().await.is_none(), "nothing went live");
        let stream = upload.stream().await.expect("readable");
        let chunks: Vec<Bytes> = futures_util::StreamExt::collect::<Vec<_>>(stream)
            .await
            .into_iter()
            .map(|c| c.expect("bytes"))
            .collect();
        assert_eq!(chunks.concat(), at_threshold);
    }

    #[tokio::test]
    async fn a_file_past_2_mib_goes_to_disk_and_live_and_the_live_body_frames_it_as_the_spool_does()
    {
        // Arrange: a video one byte past the in-memory spool.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut intake = Intake::new(&storage(8 * MIB as u64, dir.path()), None).expect("room");
        let live = intake.live(0);
        let video = file_of(2 * MIB + 1);
        let fields = UploadFields {
            title: Some("T".into()),
            ..UploadFields::default()
        };

        // Act: the live attempt reads while the intake writes.
        let sending = async {
            let start = live.start().await.expect("the video went live");
            let (body, completion) = start.body("video", after);
            let (framed, _) = framed(body).await;
            (framed, completion)
        };
        let reading = async {
            let upload = write_video(&mut intake, &video).await;
            let on_disk = files_in(dir.path());
            intake.complete(&fields).await;
            (upload, on_disk)
        };
        let ((live_body, completion), (upload, on_disk)) =
            futures_util::future::join(sending, reading).await;

        // Assert
        assert_eq!(on_disk, 1, "spooled to a temp file");
        assert!(completion.is_complete());
        let after = after(&fields);
        let after: Vec<(&str, &str)> = after.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let parts = Parts {
            before: &[],
            file_field: "video",
            after: &after,
        };
        let replayed = upload.body(parts).await.expect("from the spool");
        let length = replayed.length;
        let (replayed, sent) = framed(replayed).await;
        assert_eq!(live_body, replayed, "the same bytes, framed the same");
        assert_eq!(length, Some(sent), "the spooled body knows its length");
        let file_starts = replayed
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a part head")
            + 4;
        assert_eq!(
            &replayed[file_starts..file_starts + video.len()],
            &video[..]
        );
    }

    #[tokio::test]
    async fn a_live_attempt_that_fails_midway_leaves_the_whole_file_to_replay_from_the_spool() {
        // Arrange
        let dir = tempfile::tempdir().expect("temp dir");
        let mut intake = Intake::new(&storage(16 * MIB as u64, dir.path()), None).expect("room");
        let live = intake.live(0);
        let video = file_of(6 * MIB + 5);
        let fields = UploadFields::default();

        // Act: the connection fails after the first block it sent.
        let sending = async {
            let start = live.start().await.expect("the video went live");
            let (body, completion) = start.body("video", after);
            let mut stream = body.stream;
            let first = futures_util::StreamExt::next(&mut stream).await;
            drop(stream);
            (first.is_some(), completion)
        };
        let reading = async {
            let upload = write_video(&mut intake, &video).await;
            intake.complete(&fields).await;
            upload
        };
        let ((sent_some, completion), upload) = futures_util::future::join(sending, reading).await;

        // Assert: the attempt did not end its body, and the spool has it all.
        assert!(sent_some);
        assert!(!completion.is_complete(), "so it may be sent again");
        let after = after(&fields);
        let after: Vec<(&str, &str)> = after.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let parts = Parts {
            before: &[("first", "1")],
            file_field: "video",
            after: &after,
        };
        for attempt in 0..2 {
            let body = upload.body(parts).await.expect("from the spool");
            let length = body.length;
            let bytes = body.collect().await.expect("the whole body");
            assert_eq!(length, Some(bytes.len() as u64), "attempt {attempt}");
            let holds_video = bytes.windows(video.len()).any(|w| w == &video[..]);
            assert!(holds_video, "attempt {attempt} sends the whole video");
        }
    }

    #[tokio::test]
    async fn a_refused_request_fails_the_live_body_before_its_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut intake = Intake::new(&storage(8 * MIB as u64, dir.path()), None).expect("room");
        let live = intake.live(0);
        let sending = async {
            let start = live.start().await.expect("the video went live");
            let (body, completion) = start.body("video", after);
            (body.collect().await, completion)
        };
        let reading = async {
            let upload = write_video(&mut intake, &file_of(3 * MIB)).await;
            // A bad field after the file: the intake goes without `complete`.
            drop(intake);
            upload
        };
        let ((sent, completion), _upload) = futures_util::future::join(sending, reading).await;
        assert!(sent.is_err(), "the body failed");
        assert!(!completion.is_complete());
    }

    #[tokio::test]
    async fn an_upload_holds_its_bytes_of_the_budget_until_it_is_dropped() {
        // Arrange: a body of known length, reserved whole up front.
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = storage(8 * MIB as u64, dir.path());
        let mut intake = Intake::new(&storage, Some(4 * MIB as u64)).expect("room");
        assert_eq!(storage.budget.held(), 4 * MIB as u64);
        assert!(
            Intake::new(&storage, Some(4 * MIB as u64 + 1)).is_err(),
            "busy"
        );

        // Act
        let mut writer = intake.file(head(), VIDEO_MAX_BYTES);
        writer.write(&file_of(3 * MIB)).await.expect("spooled");
        let upload = writer.finish().await.expect("finished");
        drop(intake);

        // Assert: the rest of the reservation went back with the intake,
        // the file's bytes with the upload, and its spool file after it.
        assert_eq!(storage.budget.held(), 3 * MIB as u64);
        assert_eq!(files_in(dir.path()), 1);
        drop(upload);
        assert_eq!(storage.budget.held(), 0, "nothing leaks");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while files_in(dir.path()) > 0 && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(files_in(dir.path()), 0, "the spool file is removed");
    }

    #[tokio::test]
    async fn a_chunk_past_the_budget_is_busy_and_holds_nothing_more() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = storage(MIB as u64, dir.path());
        let mut intake = Intake::new(&storage, None).expect("room");
        let mut writer = intake.file(head(), IMAGE_MAX_BYTES);
        writer.write(&file_of(MIB)).await.expect("within");
        let past = writer.write(b"x").await;
        assert!(matches!(past, Err(SpoolError::Busy(_))), "{past:?}");
        drop(writer);
        drop(intake);
        assert_eq!(storage.budget.held(), 0);
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
