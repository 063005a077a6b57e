//! The one `multipart/form-data` encoder (RFC 7578) every upload goes out
//! with: from the spool or any stream of the file's bytes
//! ([`SendBody::file`], through [`Multipart::body`]) or live as the file
//! arrives ([`Multipart::live`]), for Imgur and Flickr alike.
//! Each provider's client still decides its wire format (which fields, in
//! which order, the file's field name: [`Parts`]); this only frames them,
//! so a body sent live and one sent from the spool cannot differ in their
//! framing.

use super::live::{LiveEvent, LiveEvents};
use super::UploadFields;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A stream of body bytes, as reqwest's `Body::wrap_stream` takes it.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// The name and media type the client gave its file.
#[derive(Clone, Debug)]
pub struct FileHead {
    pub file_name: String,
    pub content_type: Option<String>,
}

impl FileHead {
    /// The file's part in a provider's form, as `field`.
    pub(super) fn part(&self, field: &str) -> FilePart {
        FilePart {
            field: field.to_owned(),
            file_name: self.file_name.clone(),
            content_type: self.content_type.clone(),
        }
    }
}

/// What a provider's client puts around a file, in its order: the text
/// parts before it, the file's field name, the text parts after it.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    pub before: &'a [(&'a str, &'a str)],
    pub file_field: &'a str,
    pub after: &'a [(&'a str, &'a str)],
}

/// A request body as a provider's client sends it: the bytes, the
/// `Content-Type` (with the boundary) and the `Content-Length` when known
/// (a body without one goes chunked).
pub struct SendBody {
    /// Becomes the `reqwest::Body` in [`SendBody::into_request`].
    pub(super) stream: ByteStream,
    pub content_type: String,
    pub length: Option<u64>,
}

impl std::fmt::Debug for SendBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBody")
            .field("content_type", &self.content_type)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl SendBody {
    /// A body of text fields alone (Imgur's URL upload).
    pub fn fields(fields: &[(&str, &str)]) -> Self {
        let multipart = Multipart::new();
        let (stream, length) = multipart.body(fields.iter().copied(), None, []);
        multipart.send_body(stream, length)
    }

    /// A body of `parts` around a file named by `head`, its bytes from
    /// `bytes` (`length` of them when known): the framing every file body
    /// gets, from the spool or from a caller's stream.
    pub fn file(parts: Parts<'_>, head: &FileHead, bytes: ByteStream, length: Option<u64>) -> Self {
        let multipart = Multipart::new();
        let file = head.part(parts.file_field);
        let (stream, length) = multipart.body(
            parts.before.iter().copied(),
            Some((&file, bytes, length)),
            parts.after.iter().copied(),
        );
        multipart.send_body(stream, length)
    }

    /// The body's bytes, for unit tests.
    #[cfg(test)]
    pub(super) async fn collect(self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut stream = self.stream;
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(bytes)
    }

    /// Puts the body, its type and its length on `request`.
    pub fn into_request(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request
            .header(reqwest::header::CONTENT_TYPE, self.content_type)
            .body(reqwest::Body::wrap_stream(self.stream));
        match self.length {
            Some(length) => request.header(reqwest::header::CONTENT_LENGTH, length),
            None => request,
        }
    }
}

/// The file part's head: its field name, file name and media type.
#[derive(Clone, Debug)]
pub(super) struct FilePart {
    pub field: String,
    pub file_name: String,
    pub content_type: Option<String>,
}

/// A multipart body with one random boundary.
#[derive(Clone, Debug)]
pub(super) struct Multipart {
    boundary: String,
}

impl Default for Multipart {
    fn default() -> Self {
        Self::new()
    }
}

impl Multipart {
    /// A new body; the boundary is random, so no file can contain it by chance.
    pub fn new() -> Self {
        Self {
            boundary: format!("pixgate-{:032x}", rand::random::<u128>()),
        }
    }

    pub(super) fn send_body(&self, stream: ByteStream, length: Option<u64>) -> SendBody {
        SendBody {
            stream,
            content_type: self.content_type(),
            length,
        }
    }

    /// The request's `Content-Type`.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// Text parts, each with its leading boundary line.
    pub fn fields<'a>(&self, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Bytes {
        let mut out = String::new();
        for (name, value) in fields {
            out.push_str(&format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                self.boundary,
                quoted(name)
            ));
        }
        Bytes::from(out)
    }

    /// The file part's head, up to its first byte.
    pub fn file_head(&self, file: &FilePart) -> Bytes {
        let mut head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"",
            self.boundary,
            quoted(&file.field),
            quoted(&file.file_name)
        );
        if let Some(content_type) = &file.content_type {
            head.push_str(&format!("\r\nContent-Type: {content_type}"));
        }
        head.push_str("\r\n\r\n");
        Bytes::from(head)
    }

    /// What ends the file's bytes (before the next part or the close).
    pub fn file_end(&self) -> Bytes {
        Bytes::from_static(b"\r\n")
    }

    /// The closing boundary.
    pub fn close(&self) -> Bytes {
        Bytes::from(format!("--{}--\r\n", self.boundary))
    }

    /// A whole body: the `before` text parts, the file (its bytes from
    /// `bytes`, `len` of them when known), the `after` text parts and the
    /// close; with the body's length when the file's is known.
    pub fn body<'a>(
        &self,
        before: impl IntoIterator<Item = (&'a str, &'a str)>,
        file: Option<(&FilePart, ByteStream, Option<u64>)>,
        after: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (ByteStream, Option<u64>) {
        let mut head = BytesMut::from(&self.fields(before)[..]);
        let mut tail = BytesMut::new();
        let (middle, file_len): (ByteStream, Option<u64>) = match file {
            Some((part, bytes, len)) => {
                head.extend_from_slice(&self.file_head(part));
                tail.extend_from_slice(&self.file_end());
                (bytes, len)
            }
            None => (futures_util::stream::empty().boxed(), Some(0)),
        };
        tail.extend_from_slice(&self.fields(after));
        tail.extend_from_slice(&self.close());
        let (head, tail) = (head.freeze(), tail.freeze());
        let length = file_len.map(|len| head.len() as u64 + len + tail.len() as u64);
        let stream = futures_util::stream::once(async move { Ok(head) })
            .chain(middle)
            .chain(futures_util::stream::once(async move { Ok(tail) }))
            .boxed();
        (stream, length)
    }
}

impl Multipart {
    /// The body of a live upload: the file part's head, the file's chunks
    /// as the handler spools them (`events`), then the `after` fields of
    /// the checked upload and the close, once the handler has read and
    /// validated everything. `completed` turns true when the last bytes are
    /// handed over; if the events stop before that, the body fails, so the
    /// request is aborted and the provider cannot store a cut-off file.
    pub fn live<A>(
        &self,
        file: &FilePart,
        events: LiveEvents,
        completed: Arc<AtomicBool>,
        after: A,
    ) -> ByteStream
    where
        A: FnOnce(&UploadFields) -> Vec<(&'static str, String)> + Send + 'static,
    {
        let head = self.file_head(file);
        let multipart = self.clone();
        let rest = futures_util::stream::unfold(Some((events, after)), move |state| {
            let multipart = multipart.clone();
            let completed = Arc::clone(&completed);
            async move {
                let (mut events, after) = state?;
                match events.recv().await {
                    Some(LiveEvent::Chunk(bytes)) => Some((Ok(bytes), Some((events, after)))),
                    Some(LiveEvent::Complete(fields)) => {
                        let fields = after(&fields);
                        let mut tail = BytesMut::from(&multipart.file_end()[..]);
                        tail.extend_from_slice(
                            &multipart.fields(fields.iter().map(|(n, v)| (*n, v.as_str()))),
                        );
                        tail.extend_from_slice(&multipart.close());
                        completed.store(true, Ordering::Relaxed);
                        Some((Ok(tail.freeze()), None))
                    }
                    Some(LiveEvent::File(_)) | None => Some((
                        Err(io::Error::other("the client's upload did not complete")),
                        None,
                    )),
                }
            }
        });
        futures_util::stream::once(async move { Ok(head) })
            .chain(rest)
            .boxed()
    }
}

/// A name or file name inside `"…"`: backslash and quote escaped, line
/// breaks encoded (the handler already dropped control characters).
fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(stream: ByteStream) -> Vec<u8> {
        let chunks: Vec<Bytes> = stream.map(|c| c.expect("bytes")).collect().await;
        chunks.concat()
    }

    #[tokio::test]
    async fn a_body_frames_fields_and_the_file_and_knows_its_length() {
        let multipart = Multipart::new();
        let file = FilePart {
            field: "photo".into(),
            file_name: "a \"b\".png".into(),
            content_type: Some("image/png".into()),
        };
        let bytes = futures_util::stream::iter([Ok(Bytes::from_static(b"PNG"))]).boxed();
        let (stream, length) = multipart.body(
            [("title", "T")],
            Some((&file, bytes, Some(3))),
            [("type", "file")],
        );
        let body = String::from_utf8(collect(stream).await).expect("text");
        let b = &multipart.boundary;
        assert_eq!(
            body,
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nT\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a \\\"b\\\".png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nfile\r\n\
                 --{b}--\r\n"
            )
        );
        assert_eq!(length, Some(body.len() as u64));
        assert_eq!(
            multipart.content_type(),
            format!("multipart/form-data; boundary={b}")
        );
    }

    #[tokio::test]
    async fn a_live_body_and_a_spooled_body_of_one_upload_are_the_same_bytes() {
        let multipart = Multipart::new();
        let file = FilePart {
            field: "video".into(),
            file_name: "v.mp4".into(),
            content_type: Some("video/mp4".into()),
        };
        let after = |fields: &UploadFields| {
            let mut out = vec![("type", "file".to_owned())];
            if let Some(title) = &fields.title {
                out.push(("title", title.clone()));
            }
            out
        };
        let fields = UploadFields {
            title: Some("T".into()),
            ..UploadFields::default()
        };
        let (sender, events) = tokio::sync::mpsc::channel(8);
        for chunk in [&b"abc"[..], &b"def"[..]] {
            sender
                .send(LiveEvent::Chunk(Bytes::copy_from_slice(chunk)))
                .await
                .expect("sent");
        }
        sender
            .send(LiveEvent::Complete(fields.clone()))
            .await
            .expect("sent");
        let completed = Arc::new(AtomicBool::new(false));
        let live = collect(multipart.live(&file, events, Arc::clone(&completed), after)).await;
        assert!(completed.load(Ordering::Relaxed));

        let spooled_after = after(&fields);
        let bytes = futures_util::stream::iter([Ok(Bytes::from_static(b"abcdef"))]).boxed();
        let (spooled, length) = multipart.body(
            [],
            Some((&file, bytes, Some(6))),
            spooled_after.iter().map(|(n, v)| (*n, v.as_str())),
        );
        let spooled = collect(spooled).await;
        assert_eq!(live, spooled);
        assert_eq!(length, Some(spooled.len() as u64));
    }

    #[tokio::test]
    async fn a_live_body_whose_events_stop_early_fails() {
        let multipart = Multipart::new();
        let file = FilePart {
            field: "video".into(),
            file_name: "v.mp4".into(),
            content_type: None,
        };
        let (sender, events) = tokio::sync::mpsc::channel(8);
        sender
            .send(LiveEvent::Chunk(Bytes::from_static(b"abc")))
            .await
            .expect("sent");
        drop(sender);
        let completed = Arc::new(AtomicBool::new(false));
        let items: Vec<io::Result<Bytes>> = multipart
            .live(&file, events, Arc::clone(&completed), |_| Vec::new())
            .collect()
            .await;
        assert!(items.last().is_some_and(|last| last.is_err()));
        assert!(!completed.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_body_of_text_fields_alone_and_of_a_file_of_unknown_length() {
        let multipart = Multipart::new();
        let (stream, length) = multipart.body([("image", "https://x/y.png")], None, []);
        let body = collect(stream).await;
        assert_eq!(length, Some(body.len() as u64));
        let file = FilePart {
            field: "video".into(),
            file_name: "v.mp4".into(),
            content_type: None,
        };
        let bytes = futures_util::stream::iter([Ok(Bytes::from_static(b"x"))]).boxed();
        let (_, length) = multipart.body([], Some((&file, bytes, None)), []);
        assert_eq!(length, None);
    }
}
