//! The one `multipart/form-data` encoder (RFC 7578) every upload goes out
//! with: Imgur's from the spool and live as the file arrives, and Flickr's.
//! Each provider's client still decides its wire format (which fields, in
//! which order, the file's field name); this only frames them, so a body
//! sent live and one sent from the spool cannot differ in their framing.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::io;
use std::pin::Pin;

/// A stream of body bytes, as reqwest's `Body::wrap_stream` takes it.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// The file part's head: its field name, file name and media type.
#[derive(Clone, Debug)]
pub struct FilePart {
    pub field: String,
    pub file_name: String,
    pub content_type: Option<String>,
}

/// A multipart body with one random boundary.
#[derive(Clone, Debug)]
pub struct Multipart {
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
        let mut head = bytes::BytesMut::from(&self.fields(before)[..]);
        let mut tail = bytes::BytesMut::new();
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
