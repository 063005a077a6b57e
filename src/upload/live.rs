//! The live side of an upload: a video that outgrows the in-memory spool is
//! sent on to the provider while the client still sends it, so that a
//! large upload costs little more than its way upstream. The request's
//! [`Intake`](super::Intake) passes each block it spools to the [`Live`]
//! end, which a provider's client turns into a body with the one encoder
//! ([`LiveStart::body`]). The spool is still written in full, for a replay.

use super::multipart::{FileHead, Multipart, SendBody};
use super::UploadFields;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the intake passes to the live attempt.
#[derive(Debug)]
pub(super) enum LiveEvent {
    /// The file part begins.
    File(FileHead),
    /// The file's next bytes.
    Chunk(Bytes),
    /// The whole request was read and validated: the fields to send after
    /// the file. A channel that closes without this aborts the attempt, so
    /// the provider never receives a complete request for a refused upload.
    Complete(UploadFields),
}

/// How many events (blocks of up to about 1 MiB) may wait for the upstream
/// connection: beyond them, the client is read no faster than the
/// provider takes the bytes.
const LIVE_BACKLOG: usize = 4;

pub(super) type LiveEvents = tokio::sync::mpsc::Receiver<LiveEvent>;

/// The intake's side of a live upload.
pub(super) struct LiveSender {
    sender: Option<tokio::sync::mpsc::Sender<LiveEvent>>,
    started: bool,
    /// The request's file has ended: no other file goes out.
    file_ended: bool,
}

/// A new live channel; `size_hint` bounds the request's size.
pub(super) fn channel(size_hint: u64) -> (LiveSender, Live) {
    let (sender, events) = tokio::sync::mpsc::channel(LIVE_BACKLOG);
    let sender = LiveSender {
        sender: Some(sender),
        started: false,
        file_ended: false,
    };
    (sender, Live { events, size_hint })
}

impl LiveSender {
    /// Passes on a block of a file that went to its spool file (a file
    /// that fits in memory never gets here). The first block starts the
    /// attempt.
    pub(super) async fn file_block(&mut self, head: &FileHead, block: Bytes) {
        if self.file_ended {
            return;
        }
        if !self.started {
            self.started = true;
            self.send(LiveEvent::File(head.clone())).await;
        }
        self.send(LiveEvent::Chunk(block)).await;
    }

    /// The request's file ended. Only a file that spilled to disk goes
    /// live, and only one per request (an unused, empty form field before
    /// it does not count).
    pub(super) fn file_end(&mut self) {
        self.file_ended = true;
        if !self.started {
            self.sender = None;
        }
    }

    /// The request was read and validated: completes a started attempt.
    pub(super) async fn complete(&mut self, fields: &UploadFields) {
        if self.started {
            self.send(LiveEvent::Complete(fields.clone())).await;
        }
        self.sender = None;
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

/// The provider's end of a live upload, from [`Intake::live`](super::Intake::live).
pub struct Live {
    events: LiveEvents,
    size_hint: u64,
}

impl Live {
    /// Waits until the request's video outgrows memory; `None` when it
    /// never does (a small file, an image, a URL, or a refused request):
    /// then the upload goes from the spool once it is whole.
    pub async fn start(mut self) -> Option<LiveStart> {
        match self.events.recv().await {
            Some(LiveEvent::File(head)) => Some(LiveStart {
                head,
                events: self.events,
                size_hint: self.size_hint,
            }),
            _ => None,
        }
    }
}

/// A video on its way, for the provider's client to send.
pub struct LiveStart {
    head: FileHead,
    events: LiveEvents,
    size_hint: u64,
}

impl LiveStart {
    /// An upper bound of the request's size (for the attempt's timeout).
    pub fn size_hint(&self) -> u64 {
        self.size_hint
    }

    /// The body of the live attempt: the video as `file_field`, its bytes
    /// as they arrive, then the fields `after` gives for the checked upload
    /// and the close, framed exactly as [`Upload::body`](super::Upload::body)
    /// frames the same upload from the spool. It has no length. If the
    /// request is refused, or its client goes away, the body fails before
    /// its end, so the provider cannot store a cut-off file; the
    /// [`Completion`] tells whether the last byte was handed over.
    pub fn body<A>(self, file_field: &str, after: A) -> (SendBody, Completion)
    where
        A: FnOnce(&UploadFields) -> Vec<(&'static str, String)> + Send + 'static,
    {
        let multipart = Multipart::new();
        let completed = Arc::new(AtomicBool::new(false));
        let stream = multipart.live(
            &self.head.part(file_field),
            self.events,
            Arc::clone(&completed),
            after,
        );
        (multipart.send_body(stream, None), Completion(completed))
    }
}

/// Whether a live body was sent to its end.
#[derive(Clone, Debug)]
pub struct Completion(Arc<AtomicBool>);

impl Completion {
    /// True once the body's last bytes were handed to the connection: a
    /// failure after that may have reached the provider whole, so the
    /// upload must not be sent again; before it, the provider cannot have
    /// stored the file.
    pub fn is_complete(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
