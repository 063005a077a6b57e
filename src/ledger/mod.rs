//! The upload ledger: every image and album made through pixgate, with its
//! deletehash (the only way to delete an anonymous upload), kept across
//! restarts.
//!
//! [`Ledger`] is the one owner: a dedicated thread that holds the store
//! (today SQLite, [`SqliteStore`]; any [`LedgerStore`]) and runs every
//! command in the order it was sent. Callers send commands over a channel
//! and await the answer on a oneshot, so no lock is needed anywhere: the
//! store is only ever touched by that thread, one command at a time. A
//! command is handed to the thread before the caller awaits it, so a client
//! that disconnects cannot cancel a write halfway.
//!
//! A write that fails (a locked or full disk) never fails the request whose
//! Imgur call succeeded: the answer carries [`LEDGER_HEADER`]`: unrecorded`,
//! the log says why (with the record, so it can be recovered by hand), and
//! the thread keeps the write queued and retries it with backoff, in order
//! with the writes after it. Lookups see queued writes too. What is still
//! queued when the process ends is logged as lost; the window in which a
//! crash loses a record whose write succeeds is the few milliseconds
//! between Imgur's answer and the commit (SQLite commits with `fsync`).

mod sqlite;

pub use sqlite::SqliteStore;

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use utoipa::ToSchema;

/// The response header that says whether the ledger recorded what the
/// request made or deleted: `recorded` or `unrecorded` (the write failed;
/// pixgate retries it and its log has the record).
pub const LEDGER_HEADER: &str = "X-Pixgate-Ledger";

/// First wait before a failed write is retried; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// What was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Image,
    Album,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Album => "album",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "image" => Some(Self::Image),
            "album" => Some(Self::Album),
            _ => None,
        }
    }
}

/// One image or album as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"provider": "imgur", "kind": "image", "id": "aB3dE5g", "deletehash": "x1y2z3w4v5u6t7s", "link": "https://i.imgur.com/aB3dE5g.png", "type": "image/png", "size": 12345, "album": null, "account": null, "anonymous": true, "created_at": 1767222000, "deleted_at": null}))]
pub struct Entry {
    /// Where it lives: `imgur`.
    pub provider: String,
    pub kind: ItemKind,
    /// Imgur's id.
    pub id: String,
    /// Deletes (and changes) it without the account; for anonymous items
    /// the only way to.
    pub deletehash: Option<String>,
    pub link: Option<String>,
    /// MIME type of an image.
    #[serde(rename = "type")]
    pub media_type: Option<String>,
    /// Bytes of an image, as Imgur reported them.
    pub size: Option<u64>,
    /// The album an image was uploaded into (its id, or the deletehash sent).
    pub album: Option<String>,
    /// The Imgur account it was made as; `null` for an anonymous item.
    pub account: Option<String>,
    /// Whether it was made anonymously (no account).
    pub anonymous: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, once deleted through pixgate.
    pub deleted_at: Option<i64>,
}

impl Entry {
    /// A new entry made now by `account` (`None`: anonymously).
    pub fn new(kind: ItemKind, id: impl Into<String>, account: Option<String>) -> Self {
        Self {
            provider: "imgur".into(),
            kind,
            id: id.into(),
            deletehash: None,
            link: None,
            media_type: None,
            size: None,
            album: None,
            anonymous: account.is_none(),
            account,
            created_at: now(),
            deleted_at: None,
        }
    }

    /// Whether `key` names this entry (its id or its deletehash).
    fn named_by(&self, kind: ItemKind, key: &str) -> bool {
        self.kind == kind && (self.id == key || self.deletehash.as_deref() == Some(key))
    }
}

/// Which entries to list, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// `Some(true)`: only anonymous items; `Some(false)`: only the account's.
    pub anonymous: Option<bool>,
    pub offset: u64,
    pub limit: u32,
}

/// A page of entries, and whether more follow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    pub entries: Vec<Entry>,
    pub more: bool,
}

/// Whether a write reached the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    Recorded,
    /// The write failed; it is queued and retried.
    Unrecorded,
}

impl Recording {
    /// The value of [`LEDGER_HEADER`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Unrecorded => "unrecorded",
        }
    }
}

/// Why the ledger could not be opened or used. Opening errors name the
/// file and stop the start: a damaged ledger is never reset silently.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the upload ledger {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the upload ledger {path} is not a pixgate ledger or is damaged ({reason}); nothing was changed. Restore it from a backup, or move it away (pixgate then starts an empty one) or set PIXGATE_DB to another file")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the upload ledger {path} has schema version {found}, newer than this pixgate knows ({known}); upgrade pixgate, or set PIXGATE_DB to another file")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("the upload ledger failed: {0}")]
    Store(String),
    #[error("the upload ledger is not running")]
    Closed,
}

/// Where entries are kept. Only the [`Ledger`]'s thread calls it, one call
/// at a time, so implementations need no locking of their own.
pub trait LedgerStore: Send + 'static {
    /// Adds `entry`, or updates the one with its provider, kind and id.
    fn record(&mut self, entry: &Entry) -> Result<(), LedgerError>;
    /// Marks the entry deleted at `at` (nothing if it is unknown).
    fn mark_deleted(&mut self, kind: ItemKind, id: &str, at: i64) -> Result<(), LedgerError>;
    /// The entry whose id or deletehash is `key`.
    fn find(&mut self, kind: ItemKind, key: &str) -> Result<Option<Entry>, LedgerError>;
    fn list(&mut self, query: ListQuery) -> Result<Listed, LedgerError>;
}

/// What every [`LedgerStore`] must do, checked against an empty store
/// (the SQLite store's unit test and the Redis store's test run it).
#[doc(hidden)]
pub fn check_store_contract(store: &mut dyn LedgerStore) {
    let entry = |id: &str, account: Option<&str>, created_at: i64| {
        let mut entry = Entry::new(ItemKind::Image, id, account.map(str::to_owned));
        entry.created_at = created_at;
        entry.deletehash = Some(format!("dh{id}"));
        entry
    };
    store.record(&entry("a", None, 1)).expect("recorded");
    store
        .record(&entry("b", Some("demo"), 2))
        .expect("recorded");
    store.record(&entry("c", None, 3)).expect("recorded");
    // Same creation second: the later record lists first.
    store.record(&entry("d", None, 3)).expect("recorded");
    store.mark_deleted(ItemKind::Image, "a", 9).expect("marked");
    store
        .mark_deleted(ItemKind::Image, "a", 10)
        .expect("marked twice");
    // A second record of an item merges: what it leaves empty is kept.
    let mut again = entry("b", None, 50);
    again.deletehash = None;
    again.link = Some("https://i.example/b.png".into());
    store.record(&again).expect("merged");

    let a = store
        .find(ItemKind::Image, "dha")
        .expect("read")
        .expect("found");
    assert_eq!((a.id.as_str(), a.deleted_at), ("a", Some(9)));
    assert!(store.find(ItemKind::Album, "a").expect("read").is_none());
    assert!(store.find(ItemKind::Image, "zz").expect("read").is_none());
    let b = store
        .find(ItemKind::Image, "b")
        .expect("read")
        .expect("found");
    assert_eq!(b.deletehash.as_deref(), Some("dhb"));
    assert_eq!(b.link.as_deref(), Some("https://i.example/b.png"));
    assert_eq!(
        (b.account.as_deref(), b.anonymous, b.created_at),
        (Some("demo"), false, 2)
    );
    let anonymous = store
        .list(ListQuery {
            anonymous: Some(true),
            offset: 0,
            limit: 1,
        })
        .expect("listed");
    assert_eq!(anonymous.entries[0].id, "d");
    assert!(anonymous.more);
    let all = store
        .list(ListQuery {
            anonymous: None,
            offset: 0,
            limit: 10,
        })
        .expect("listed");
    let ids: Vec<&str> = all.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["d", "c", "b", "a"]);
    assert!(!all.more);
    let second = store
        .list(ListQuery {
            anonymous: None,
            offset: 2,
            limit: 2,
        })
        .expect("listed");
    let ids: Vec<&str> = second.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!((ids, second.more), (vec!["b", "a"], false));
    let account = store
        .list(ListQuery {
            anonymous: Some(false),
            offset: 0,
            limit: 10,
        })
        .expect("listed");
    assert_eq!(account.entries.len(), 1);
}

/// A write, as queued.
#[derive(Clone, Debug)]
enum Write {
    Record(Entry),
    Deleted { kind: ItemKind, id: String, at: i64 },
}

impl Write {
    fn apply(&self, store: &mut dyn LedgerStore) -> Result<(), LedgerError> {
        match self {
            Write::Record(entry) => store.record(entry),
            Write::Deleted { kind, id, at } => store.mark_deleted(*kind, id, *at),
        }
    }
}

enum Command {
    Write(Write, oneshot::Sender<Recording>),
    Find(
        ItemKind,
        String,
        oneshot::Sender<Result<Option<Entry>, LedgerError>>,
    ),
    List(ListQuery, oneshot::Sender<Result<Listed, LedgerError>>),
}

/// The handle every ledger operation goes through; cheap to clone. See the
/// module docs for why its thread is the only owner of the store.
#[derive(Clone)]
pub struct Ledger {
    commands: mpsc::Sender<Command>,
}

impl Ledger {
    /// Opens (creating or migrating) the SQLite ledger at `path` and starts
    /// its thread.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let store = SqliteStore::open(path)?;
        Self::start(Box::new(store), path)
    }

    /// Starts the owner thread over any store; `path` names it in messages.
    pub fn start(store: Box<dyn LedgerStore>, path: &Path) -> Result<Self, LedgerError> {
        let (commands, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("pixgate-ledger".into())
            .spawn(move || Owner::new(store).run(inbox))
            .map_err(|e| LedgerError::Open {
                path: path.to_owned(),
                reason: format!("cannot start its thread: {e}"),
            })?;
        Ok(Self { commands })
    }

    /// Records a new upload or album.
    pub async fn record(&self, entry: Entry) -> Recording {
        self.write(Write::Record(entry)).await
    }

    /// Records that an item was deleted now.
    pub async fn mark_deleted(&self, kind: ItemKind, id: &str) -> Recording {
        self.write(Write::Deleted {
            kind,
            id: id.to_owned(),
            at: now(),
        })
        .await
    }

    async fn write(&self, write: Write) -> Recording {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Write(write, reply)).is_err() {
            return Recording::Unrecorded;
        }
        answer.await.unwrap_or(Recording::Unrecorded)
    }

    /// The entry whose id or deletehash is `key`; `None` when unknown or
    /// when the store cannot be read (logged).
    pub async fn find(&self, kind: ItemKind, key: &str) -> Option<Entry> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Find(kind, key.to_owned(), reply))
            .ok()?;
        match answer.await {
            Ok(Ok(found)) => found,
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not read the upload ledger");
                None
            }
            Err(_) => None,
        }
    }

    /// A page of entries, newest first.
    pub async fn list(&self, query: ListQuery) -> Result<Listed, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::List(query, reply))
            .map_err(|_| LedgerError::Closed)?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }
}

/// The thread's state: the store and the writes that still have to reach it.
struct Owner {
    store: Box<dyn LedgerStore>,
    queued: VecDeque<Write>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Owner {
    fn new(store: Box<dyn LedgerStore>) -> Self {
        Self {
            store,
            queued: VecDeque::new(),
            retry_at: None,
            backoff: FIRST_RETRY,
        }
    }

    fn run(mut self, inbox: mpsc::Receiver<Command>) {
        loop {
            let command = match self.retry_at {
                None => match inbox.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break,
                },
                Some(at) => {
                    match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(command) => Some(command),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            match command {
                None => {
                    self.flush();
                }
                Some(Command::Write(write, reply)) => {
                    self.queued.push_back(write);
                    // Behind a failing write, a new one waits for the retry.
                    if self.queued.len() == 1 || self.retry_due() {
                        self.flush();
                    }
                    // It was last in the queue: written when the queue emptied.
                    let _ = reply.send(if self.queued.is_empty() {
                        Recording::Recorded
                    } else {
                        Recording::Unrecorded
                    });
                }
                Some(Command::Find(kind, key, reply)) => {
                    let _ = reply.send(self.find(kind, &key));
                }
                Some(Command::List(query, reply)) => {
                    let _ = reply.send(self.store.list(query));
                }
            }
        }
        for write in &self.queued {
            tracing::error!(write = ?write, "the upload ledger is closing with a write it could not make; the record is lost");
        }
    }

    fn retry_due(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() >= at)
    }

    /// Applies queued writes in order until one fails.
    fn flush(&mut self) {
        while let Some(write) = self.queued.front() {
            match write.apply(self.store.as_mut()) {
                Ok(()) => {
                    if self.retry_at.is_some() {
                        tracing::info!(write = ?write, "the upload ledger recorded a write it had queued");
                    }
                    self.queued.pop_front();
                }
                Err(error) => {
                    tracing::warn!(%error, write = ?write, retry_in = ?self.backoff, queued = self.queued.len(), "could not write to the upload ledger; the write is queued and retried");
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_RETRY);
                    return;
                }
            }
        }
        self.retry_at = None;
        self.backoff = FIRST_RETRY;
    }

    /// The store's answer with the queued writes applied on top.
    fn find(&mut self, kind: ItemKind, key: &str) -> Result<Option<Entry>, LedgerError> {
        let stored = self.store.find(kind, key);
        let mut found = match stored {
            Ok(found) => found,
            Err(error) if !self.queued.is_empty() => {
                tracing::debug!(%error, "the ledger store failed a lookup; answering from the queued writes");
                None
            }
            Err(error) => return Err(error),
        };
        for write in &self.queued {
            match write {
                Write::Record(entry) if entry.named_by(kind, key) => found = Some(entry.clone()),
                Write::Deleted { kind: k, id, at } => {
                    if let Some(entry) = found.as_mut().filter(|e| e.kind == *k && e.id == *id) {
                        entry.deleted_at = Some(*at);
                    }
                }
                Write::Record(_) => {}
            }
        }
        Ok(found)
    }
}

/// Unix seconds now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A store that fails while `failing` is set, and records what it got.
    #[derive(Clone, Default)]
    struct Flaky {
        failing: Arc<Mutex<bool>>,
        entries: Arc<Mutex<Vec<Entry>>>,
    }

    impl LedgerStore for Flaky {
        fn record(&mut self, entry: &Entry) -> Result<(), LedgerError> {
            if *self.failing.lock().expect("lock") {
                return Err(LedgerError::Store("disk full".into()));
            }
            self.entries.lock().expect("lock").push(entry.clone());
            Ok(())
        }
        fn mark_deleted(&mut self, _: ItemKind, id: &str, at: i64) -> Result<(), LedgerError> {
            if *self.failing.lock().expect("lock") {
                return Err(LedgerError::Store("disk full".into()));
            }
            for entry in self.entries.lock().expect("lock").iter_mut() {
                if entry.id == id {
                    entry.deleted_at = Some(at);
                }
            }
            Ok(())
        }
        fn find(&mut self, kind: ItemKind, key: &str) -> Result<Option<Entry>, LedgerError> {
            Ok(self
                .entries
                .lock()
                .expect("lock")
                .iter()
                .find(|e| e.named_by(kind, key))
                .cloned())
        }
        fn list(&mut self, _: ListQuery) -> Result<Listed, LedgerError> {
            Ok(Listed::default())
        }
    }

    #[tokio::test]
    async fn a_failed_write_is_answered_unrecorded_seen_by_lookups_and_kept_in_order() {
        let store = Flaky::default();
        *store.failing.lock().expect("lock") = true;
        let ledger = Ledger::start(Box::new(store.clone()), Path::new("test")).expect("starts");
        let mut entry = Entry::new(ItemKind::Image, "abc", None);
        entry.deletehash = Some("dh".into());

        assert_eq!(ledger.record(entry.clone()).await, Recording::Unrecorded);
        assert_eq!(
            ledger.mark_deleted(ItemKind::Image, "abc").await,
            Recording::Unrecorded
        );
        let found = ledger
            .find(ItemKind::Image, "dh")
            .await
            .expect("queued entry found");
        assert!(found.deleted_at.is_some(), "the queued delete applies too");
        assert!(store.entries.lock().expect("lock").is_empty());

        *store.failing.lock().expect("lock") = false;
        // The thread retries on its own, in order.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.entries.lock().expect("lock").is_empty() {
            assert!(
                Instant::now() < deadline,
                "the queued writes were never retried"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stored = store.entries.lock().expect("lock").clone();
        assert_eq!(stored.len(), 1);
        assert!(
            stored[0].deleted_at.is_some(),
            "record, then delete, in order"
        );
    }
}
