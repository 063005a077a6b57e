//! The durable token record and the stores that keep it. Imgur rotates
//! refresh tokens and its authorize page has been failing since mid-2025, so
//! a lost refresh token may mean no gateway at all.
//!
//! [`TokenStore`] is the one small interface every store offers: load, save
//! under the cross-process lock, remove under it. [`FileStore`] is today's
//! store: every write is atomic (temp file in the same directory, fsync,
//! rename, fsync of the directory) with mode 0600, and a file that cannot be
//! read is reported, never overwritten. Every record carries a `revision`
//! that each save increments, so a store with compare-and-set (Redis, later)
//! can refuse a save whose base revision is stale without any change to the
//! token owner ([`super::tokens`]), which is the only writer in a process.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// Errors of the token file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read token file {path}: {source} (check that its directory exists and is readable by this user, or point PIXGATE_TOKEN_FILE elsewhere)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file exists but is not a pixgate token file. The parser's own
    /// message is left out: it may quote a token.
    #[error("token file {path} is corrupted (not pixgate token JSON at line {line}, column {column}); it was left untouched: fix or remove it, then restart")]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("cannot write token file {path}: {source} (make its directory writable by this user, or point PIXGATE_TOKEN_FILE elsewhere)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The shared store (Redis) cannot be reached; what needs it answers
    /// 503 `store-unavailable`.
    #[error("the shared token store ({location}) is unavailable: {reason}")]
    Unavailable { location: String, reason: String },
    /// A compare-and-set save found a newer record: another replica wrote
    /// first. The store kept this save's tokens as a candidate.
    #[error("another replica stored newer tokens in {location} first; these were kept there as a candidate")]
    Conflict { location: String },
    #[error("the token record in {location} is not pixgate token JSON; it was left untouched: fix or delete it, then restart")]
    CorruptRecord { location: String },
    /// The record was there and is gone without a logout (a store that
    /// lost its data): the tokens in memory are kept and written back.
    #[error("the token record is missing from {location}, though this process saw it before (did Redis lose its data?); keeping the tokens in memory")]
    Missing { location: String },
}

/// The tokens as stored: Imgur's, and (optionally) Flickr's. `Debug` never
/// shows a token.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredTokens {
    pub refresh_token: Option<Secret>,
    /// The refresh token before the last rotation, tried if the current one is rejected.
    pub previous_refresh_token: Option<Secret>,
    /// SHA-256 of the `IMGUR_REFRESH_TOKEN` this file was seeded from, so a
    /// changed environment value (the user re-authorized) wins over the file.
    pub seed_fingerprint: Option<String>,
    pub access_token: Option<Secret>,
    pub access_token_expires_at: Option<SystemTime>,
    pub account_username: Option<String>,
    pub account_id: Option<u64>,
    /// The Flickr authorization, kept by every Imgur write.
    pub flickr: Option<FlickrTokens>,
    /// Incremented by every save; tells whether another process wrote since
    /// this record was read (and is the version a compare-and-set store checks).
    pub revision: u64,
}

impl StoredTokens {
    /// The same record without the Imgur authorization (a logout keeps Flickr's).
    pub fn without_imgur(&self) -> Self {
        Self {
            flickr: self.flickr.clone(),
            revision: self.revision,
            ..Self::default()
        }
    }

    /// Whether nothing worth keeping is left (then a logout removes the file).
    pub fn is_empty(&self) -> bool {
        self.refresh_token.is_none() && self.flickr.is_none()
    }
}

/// Flickr's OAuth 1.0a access token for the user. `Debug` never shows a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlickrTokens {
    pub token: Secret,
    pub token_secret: Secret,
    pub username: Option<String>,
    pub user_nsid: Option<String>,
    pub perms: Option<String>,
}

/// The on-disk JSON form.
#[derive(Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    #[serde(default)]
    revision: u64,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    previous_refresh_token: Option<String>,
    #[serde(default)]
    seed_fingerprint: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    access_token_expires_at: Option<u64>,
    #[serde(default)]
    account_username: Option<String>,
    #[serde(default)]
    account_id: Option<u64>,
    /// Absent in files written before Flickr support: they load as no Flickr login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flickr: Option<FlickrFile>,
    /// Unix seconds of the write, for people inspecting the file.
    #[serde(default)]
    updated_at: u64,
}

#[derive(Serialize, Deserialize)]
struct FlickrFile {
    token: String,
    token_secret: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    user_nsid: Option<String>,
    #[serde(default)]
    perms: Option<String>,
}

/// Proof that the cross-process lock is held; released when dropped. Saves
/// and removals take it as an argument, so no write can happen without it.
pub struct StoreLock(Box<dyn std::any::Any + Send + Sync>);

impl StoreLock {
    /// Wraps what a store holds while locked (released when it drops).
    pub fn new(guard: impl std::any::Any + Send + Sync) -> Self {
        Self(Box::new(guard))
    }

    /// The store's own guard, for the store that made it.
    pub fn guard<T: 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreLock")
    }
}

/// Keeps a change watch alive; dropping it stops the notifications.
pub struct StoreWatch(#[allow(dead_code)] std::sync::Mutex<Box<dyn std::any::Any + Send>>);

impl StoreWatch {
    /// Wraps what keeps a store's watch running (stopped when it drops).
    pub fn new(guard: impl std::any::Any + Send) -> Self {
        Self(std::sync::Mutex::new(Box::new(guard)))
    }
}

/// Where tokens live durably. Every method blocks: the token owner calls
/// them on the blocking pool. Another store (Redis) implements the same four
/// operations; the refresh logic never sees which one it has.
pub trait TokenStore: Send + Sync + 'static {
    /// Where the tokens are, for messages (a path, a URL without secrets).
    fn location(&self) -> String;
    /// The stored record; `Ok(None)` when there is none yet.
    fn load(&self) -> Result<Option<StoredTokens>, StoreError>;
    /// Takes the lock that every process sharing this store holds around a
    /// refresh, a login, a logout or any write (waits for it).
    fn lock(&self) -> Result<StoreLock, StoreError>;
    /// Stores `tokens` durably, as revision `tokens.revision + 1`, which it
    /// returns. Only with the lock held.
    fn save(&self, lock: &StoreLock, tokens: &StoredTokens) -> Result<u64, StoreError>;
    /// Deletes the record; a missing one is fine. Only with the lock held.
    fn remove(&self, lock: &StoreLock) -> Result<(), StoreError>;
    /// Checks, before serving, that a save can work.
    fn ensure_writable(&self) -> Result<(), StoreError>;
    /// Calls `changed` (from another thread) whenever the record may have
    /// changed, e.g. another process wrote it; `None` if the store cannot.
    fn watch(&self, changed: Box<dyn Fn() + Send + Sync>) -> Option<StoreWatch>;
    /// Whether `lock` is still held, asked right before a token request is
    /// sent: a lock that is a lease (Redis) can be lost while this process
    /// is paused, and then the request must not go out. A file lock cannot
    /// be lost.
    fn confirm(&self, _lock: &StoreLock) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Tokens another writer got from Imgur but could not store (its save
    /// lost a compare-and-set), newest first; tried before giving up on a
    /// rejected refresh token. The file store never has any.
    fn candidates(&self) -> Result<Vec<StoredTokens>, StoreError> {
        Ok(Vec::new())
    }
    /// Whether other processes refresh through this store too (Redis): an
    /// access token read from it may have been replaced upstream since.
    fn is_shared(&self) -> bool {
        false
    }
    /// Drops the candidate with `refresh_token` once it was used or rejected.
    fn forget_candidate(
        &self,
        _lock: &StoreLock,
        _refresh_token: &Secret,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The token file at one path.
#[derive(Clone, Debug)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    fn write_atomically(&self, contents: &[u8]) -> std::io::Result<()> {
        let dir = self.dir();
        create_private_dir(dir)?;
        // NamedTempFile is created with mode 0600 and removed if we fail before persisting.
        let mut temp = tempfile::Builder::new()
            .prefix(".tokens.")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        temp.write_all(contents)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path).map_err(|e| e.error)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    }

    fn write_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

impl TokenStore for FileStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        decode(&bytes).map(Some).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            line: e.line(),
            column: e.column(),
        })
    }

    /// The lock is on a sibling `.lock` file, since the token file itself is
    /// replaced by every write.
    fn lock(&self) -> Result<StoreLock, StoreError> {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        let path = self.path.with_file_name(name);
        let open = || -> std::io::Result<std::fs::File> {
            create_private_dir(self.dir())?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.lock()?;
            Ok(file)
        };
        open()
            .map(StoreLock::new)
            .map_err(|source| StoreError::Write { path, source })
    }

    fn save(&self, _lock: &StoreLock, tokens: &StoredTokens) -> Result<u64, StoreError> {
        let revision = tokens.revision.wrapping_add(1);
        let json = encode(tokens, revision).map_err(|e| self.write_error(e.into()))?;
        self.write_atomically(&json)
            .map_err(|source| self.write_error(source))?;
        Ok(revision)
    }

    fn remove(&self, _lock: &StoreLock) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => std::fs::File::open(self.dir())
                .and_then(|d| d.sync_all())
                .map_err(|source| self.write_error(source)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(self.write_error(source)),
        }
    }

    /// Creates the directory (0700) if needed and proves a temp file can be made there.
    fn ensure_writable(&self) -> Result<(), StoreError> {
        let dir = self.dir();
        create_private_dir(dir)
            .and_then(|()| tempfile::NamedTempFile::new_in(dir).map(drop))
            .map_err(|source| self.write_error(source))
    }

    /// Watches the directory, not the file: every write renames a new inode
    /// into place, which a watch on the old inode would miss.
    fn watch(&self, changed: Box<dyn Fn() + Send + Sync>) -> Option<StoreWatch> {
        use notify::Watcher;
        let name = self.path.file_name()?.to_owned();
        let dir = self.dir().to_owned();
        create_private_dir(&dir).ok()?;
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let ours = match &event {
                    Ok(event) => event.paths.iter().any(|p| p.file_name() == Some(&name)),
                    // Lost events (queue overflow): reload to be sure.
                    Err(_) => true,
                };
                if ours {
                    changed();
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "cannot watch the token file; another process's change is noticed at the next refresh"))
            .ok()?;
        watcher
            .watch(&dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| tracing::warn!(error = %e, "cannot watch the token file; another process's change is noticed at the next refresh"))
            .ok()?;
        Some(StoreWatch::new(watcher))
    }
}

/// The record as pretty JSON (the token file's format, which the Redis
/// store keeps too), as revision `revision`.
pub(crate) fn encode(tokens: &StoredTokens, revision: u64) -> serde_json::Result<Vec<u8>> {
    let expose = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
    let file = TokenFile {
        version: 1,
        revision,
        refresh_token: expose(&tokens.refresh_token),
        previous_refresh_token: expose(&tokens.previous_refresh_token),
        seed_fingerprint: tokens.seed_fingerprint.clone(),
        access_token: expose(&tokens.access_token),
        access_token_expires_at: tokens.access_token_expires_at.map(unix_seconds),
        account_username: tokens.account_username.clone(),
        account_id: tokens.account_id,
        flickr: tokens.flickr.as_ref().map(|f| FlickrFile {
            token: f.token.expose().to_owned(),
            token_secret: f.token_secret.expose().to_owned(),
            username: f.username.clone(),
            user_nsid: f.user_nsid.clone(),
            perms: f.perms.clone(),
        }),
        updated_at: unix_seconds(SystemTime::now()),
    };
    let mut json = serde_json::to_vec_pretty(&file)?;
    json.push(b'\n');
    Ok(json)
}

/// The record from its JSON. The error's message is not for display: it
/// may quote a token; its line and column are.
pub(crate) fn decode(bytes: &[u8]) -> serde_json::Result<StoredTokens> {
    let file: TokenFile = serde_json::from_slice(bytes)?;
    let secret = |v: Option<String>| v.filter(|s| !s.is_empty()).map(Secret::new);
    let flickr = file
        .flickr
        .filter(|f| !f.token.is_empty())
        .map(|f| FlickrTokens {
            token: Secret::new(f.token),
            token_secret: Secret::new(f.token_secret),
            username: f.username,
            user_nsid: f.user_nsid,
            perms: f.perms,
        });
    Ok(StoredTokens {
        refresh_token: secret(file.refresh_token),
        previous_refresh_token: secret(file.previous_refresh_token),
        seed_fingerprint: file.seed_fingerprint,
        access_token: secret(file.access_token),
        // A timestamp past what SystemTime holds counts as expired.
        access_token_expires_at: file.access_token_expires_at.map(|s| {
            UNIX_EPOCH
                .checked_add(Duration::from_secs(s))
                .unwrap_or(UNIX_EPOCH)
        }),
        account_username: file.account_username,
        account_id: file.account_id,
        flickr,
        revision: file.revision,
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// SHA-256 (hex) of a refresh token: lets the file remember which
/// environment value it was seeded from.
pub fn fingerprint(token: &Secret) -> String {
    let digest = Sha256::digest(token.expose().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saved_tokens_load_back_and_the_file_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::new(dir.path().join("nested/tokens.json"));
        assert_eq!(store.load().expect("no file is fine"), None);
        let lock = store.lock().expect("locked");
        let tokens = StoredTokens {
            refresh_token: Some(Secret::new("r1")),
            previous_refresh_token: Some(Secret::new("r0")),
            seed_fingerprint: Some(fingerprint(&Secret::new("r0"))),
            access_token: Some(Secret::new("a1")),
            access_token_expires_at: Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000)),
            account_username: Some("demo".into()),
            account_id: Some(7),
            flickr: Some(FlickrTokens {
                token: Secret::new("f-token"),
                token_secret: Secret::new("f-secret"),
                username: Some("flickr-user".into()),
                user_nsid: Some("1@N0".into()),
                perms: Some("write".into()),
            }),
            revision: 4,
        };
        assert_eq!(store.save(&lock, &tokens).expect("saved"), 5);
        let expected = StoredTokens {
            revision: 5,
            ..tokens
        };
        assert_eq!(store.load().expect("loads"), Some(expected));
        let mode = std::fs::metadata(store.path())
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers = std::fs::read_dir(store.dir())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0, "no temp file is left behind");
    }

    #[test]
    fn a_file_written_before_flickr_and_revisions_still_loads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.json");
        std::fs::write(
            &path,
            br#"{"version":1,"refresh_token":"r1","access_token":"a1","access_token_expires_at":2000000000,"account_username":"demo","account_id":7,"updated_at":1}"#,
        )
        .expect("written");
        let loaded = FileStore::new(&path).load().expect("loads").expect("some");
        assert_eq!(loaded.refresh_token, Some(Secret::new("r1")));
        assert_eq!(loaded.flickr, None);
        assert_eq!(loaded.revision, 0);
    }

    #[test]
    fn a_corrupted_file_is_reported_by_path_and_left_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, b"{\"refresh_token\": \"sekrit-value\", oops").expect("write");
        let err = FileStore::new(&path).load().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tokens.json") && text.contains("corrupted"),
            "{text}"
        );
        assert!(!text.contains("sekrit-value"));
        assert_eq!(
            std::fs::read(&path).expect("still there"),
            b"{\"refresh_token\": \"sekrit-value\", oops"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_token_file_content_loads_or_is_reported_never_panics(
            content in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("tokens.json");
            std::fs::write(&path, &content).expect("written");
            match FileStore::new(&path).load() {
                Ok(_) | Err(StoreError::Corrupt { .. }) => {}
                Err(other) => proptest::prop_assert!(false, "unexpected {other}"),
            }
            proptest::prop_assert_eq!(std::fs::read(&path).expect("untouched"), content);
        }

        #[test]
        fn any_tokens_survive_a_save_and_load(
            refresh in "\\PC{1,64}",
            access in proptest::option::of("\\PC{1,64}"),
            username in proptest::option::of("\\PC{0,32}"),
            id in proptest::option::of(proptest::num::u64::ANY),
        ) {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = FileStore::new(dir.path().join("tokens.json"));
            let lock = store.lock().expect("locked");
            let tokens = StoredTokens {
                refresh_token: Some(Secret::new(refresh)),
                access_token: access.map(Secret::new),
                access_token_expires_at: Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
                account_username: username,
                account_id: id,
                ..StoredTokens::default()
            };
            store.save(&lock, &tokens).expect("saved");
            let expected = StoredTokens { revision: 1, ..tokens };
            proptest::prop_assert_eq!(store.load().expect("loads"), Some(expected));
        }
    }
}
