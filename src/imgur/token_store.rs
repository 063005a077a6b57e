//! The durable token file. Imgur rotates refresh tokens and its authorize page
//! has been failing since mid-2025, so a lost refresh token may mean no
//! gateway at all: every write is atomic (temp file in the same directory,
//! fsync, rename, fsync of the directory) with mode 0600, and a file that
//! cannot be read is reported, never overwritten.

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
}

/// The tokens as stored. `Debug` never shows a token.
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
}

/// The on-disk JSON form.
#[derive(Serialize, Deserialize)]
struct TokenFile {
    version: u32,
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
    /// Unix seconds of the write, for people inspecting the file.
    #[serde(default)]
    updated_at: u64,
    /// The Flickr tokens (`crate::flickr::session` reads and writes them):
    /// opaque here, carried over unchanged by every Imgur write and logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flickr: Option<serde_json::Value>,
}

impl TokenFile {
    fn empty() -> Self {
        Self {
            version: 1,
            refresh_token: None,
            previous_refresh_token: None,
            seed_fingerprint: None,
            access_token: None,
            access_token_expires_at: None,
            account_username: None,
            account_id: None,
            updated_at: unix_seconds(SystemTime::now()),
            flickr: None,
        }
    }
}

/// Held while one process refreshes; released when dropped.
#[derive(Debug)]
pub struct StoreLock(#[allow(dead_code)] std::fs::File);

/// The identity of one version of the token file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    inode: u64,
    modified: Option<SystemTime>,
    len: u64,
}

/// Reads and atomically writes the token file at one path.
#[derive(Clone, Debug)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the file; `Ok(None)` when there is none yet.
    pub fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        let Some(file) = self.load_file()? else {
            return Ok(None);
        };
        let secret = |v: Option<String>| v.filter(|s| !s.is_empty()).map(Secret::new);
        Ok(Some(StoredTokens {
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
        }))
    }

    /// Writes the file atomically with mode 0600 (blocking; call from
    /// `spawn_blocking` in async code).
    pub fn save(&self, tokens: &StoredTokens) -> Result<(), StoreError> {
        let expose = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
        let file = TokenFile {
            version: 1,
            refresh_token: expose(&tokens.refresh_token),
            previous_refresh_token: expose(&tokens.previous_refresh_token),
            seed_fingerprint: tokens.seed_fingerprint.clone(),
            access_token: expose(&tokens.access_token),
            access_token_expires_at: tokens.access_token_expires_at.map(unix_seconds),
            account_username: tokens.account_username.clone(),
            account_id: tokens.account_id,
            updated_at: unix_seconds(SystemTime::now()),
            flickr: self.flickr_section()?,
        };
        self.write_file(&file)
    }

    fn write_file(&self, file: &TokenFile) -> Result<(), StoreError> {
        let mut json = serde_json::to_vec_pretty(file).map_err(|e| self.write_error(e.into()))?;
        json.push(b'\n');
        self.write_atomically(&json)
            .map_err(|source| self.write_error(source))
    }

    /// The `flickr` section as stored; `None` without a file or section.
    pub fn flickr_section(&self) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self.load_file()?.and_then(|file| file.flickr))
    }

    /// Replaces (`Some`) or removes (`None`) the `flickr` section, keeping
    /// the Imgur tokens as they are (blocking, like [`TokenStore::save`]).
    pub fn save_flickr_section(
        &self,
        section: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let file = match self.load_file()? {
            Some(file) => file,
            None if section.is_none() => return Ok(()),
            None => TokenFile::empty(),
        };
        self.write_file(&TokenFile {
            flickr: section,
            updated_at: unix_seconds(SystemTime::now()),
            ..file
        })
    }

    fn load_file(&self) -> Result<Option<TokenFile>, StoreError> {
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
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                line: e.line(),
                column: e.column(),
            })
    }

    /// Takes the advisory lock that processes sharing this token file hold
    /// around a refresh, login or logout (blocking; call from
    /// `spawn_blocking`). The lock is on a sibling `.lock` file, since the
    /// token file itself is replaced by every write.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
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
            .map(StoreLock)
            .map_err(|source| StoreError::Write { path, source })
    }

    /// Deletes the Imgur tokens (logout); a missing file is fine. A
    /// `flickr` section stays: the file is then rewritten without the rest.
    pub fn remove(&self) -> Result<(), StoreError> {
        if let Some(flickr) = self.flickr_section()? {
            return self.write_file(&TokenFile {
                flickr: Some(flickr),
                ..TokenFile::empty()
            });
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(self.write_error(source)),
        }
    }

    /// What identifies the file's current version: every atomic write
    /// renames a new inode into place, so another process's write changes it.
    pub fn stamp(&self) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.path).ok()?;
        Some(FileStamp {
            inode: meta.ino(),
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }

    /// Checks, before serving, that the file's directory exists (creating it
    /// 0700) and is writable.
    pub fn ensure_writable(&self) -> Result<(), StoreError> {
        let dir = self.dir();
        create_private_dir(dir)
            .and_then(|()| tempfile::NamedTempFile::new_in(dir).map(drop))
            .map_err(|source| self.write_error(source))
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
        let store = TokenStore::new(dir.path().join("nested/tokens.json"));
        assert_eq!(store.load().expect("no file is fine"), None);
        let tokens = StoredTokens {
            refresh_token: Some(Secret::new("r1")),
            previous_refresh_token: Some(Secret::new("r0")),
            seed_fingerprint: Some(fingerprint(&Secret::new("r0"))),
            access_token: Some(Secret::new("a1")),
            access_token_expires_at: Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000)),
            account_username: Some("demo".into()),
            account_id: Some(7),
        };
        store.save(&tokens).expect("saved");
        assert_eq!(store.load().expect("loads"), Some(tokens));
        let mode = std::fs::metadata(store.path())
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers = std::fs::read_dir(store.dir()).expect("dir").count();
        assert_eq!(leftovers, 1, "no temp file is left behind");
    }

    #[test]
    fn a_corrupted_file_is_reported_by_path_and_left_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, b"{\"refresh_token\": \"sekrit-value\", oops").expect("write");
        let err = TokenStore::new(&path).load().unwrap_err();
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

    #[test]
    fn the_flickr_section_survives_imgur_writes_and_logout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path().join("tokens.json"));
        let section = serde_json::json!({"token": "t", "token_secret": "s"});
        store
            .save_flickr_section(Some(section.clone()))
            .expect("saved");
        let tokens = StoredTokens {
            refresh_token: Some(Secret::new("r1")),
            ..StoredTokens::default()
        };
        store.save(&tokens).expect("saved");
        assert_eq!(store.load().expect("loads"), Some(tokens));
        assert_eq!(
            store.flickr_section().expect("loads"),
            Some(section.clone())
        );
        store.remove().expect("logged out of Imgur");
        assert_eq!(store.load().expect("loads"), Some(StoredTokens::default()));
        assert_eq!(store.flickr_section().expect("loads"), Some(section));
        store.save_flickr_section(None).expect("removed");
        assert_eq!(store.flickr_section().expect("loads"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_token_file_content_loads_or_is_reported_never_panics(
            content in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("tokens.json");
            std::fs::write(&path, &content).expect("written");
            match TokenStore::new(&path).load() {
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
            let store = TokenStore::new(dir.path().join("tokens.json"));
            let tokens = StoredTokens {
                refresh_token: Some(Secret::new(refresh)),
                access_token: access.map(Secret::new),
                access_token_expires_at: Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
                account_username: username,
                account_id: id,
                ..StoredTokens::default()
            };
            store.save(&tokens).expect("saved");
            proptest::prop_assert_eq!(store.load().expect("loads"), Some(tokens));
        }
    }
}
