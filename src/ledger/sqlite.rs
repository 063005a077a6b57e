//! The ledger in SQLite (bundled, so no system library is needed).
//!
//! The schema is versioned with `PRAGMA user_version` and migrated forward
//! at open, one transaction per step; `PRAGMA application_id` marks the file
//! as pixgate's. Opening refuses, naming the file and changing nothing, a
//! file that is not a database, fails `PRAGMA quick_check`, belongs to
//! another program, or has a newer schema than this build knows. The file
//! is created with mode 0600 (SQLite's WAL and shared-memory files copy the
//! database's mode). WAL lets `pixgate uploads` read while a gateway writes;
//! `synchronous = FULL` makes every commit durable before it is answered.

use super::{Entry, ItemKind, LedgerError, LedgerStore, ListQuery, Listed};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// "pxgt": marks the file as a pixgate ledger.
const APPLICATION_ID: i64 = 0x7078_6774;
/// How long a write waits for another connection's lock before it fails
/// (and is queued for a retry).
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Schema versions: `MIGRATIONS[n]` takes version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE items (
        provider   TEXT NOT NULL DEFAULT 'imgur',
        kind       TEXT NOT NULL CHECK (kind IN ('image', 'album')),
        id         TEXT NOT NULL,
        deletehash TEXT,
        link       TEXT,
        media_type TEXT,
        size       INTEGER,
        album      TEXT,
        account    TEXT,
        created_at INTEGER NOT NULL,
        deleted_at INTEGER,
        PRIMARY KEY (provider, kind, id)
    ) STRICT;
    CREATE INDEX items_by_deletehash ON items (deletehash) WHERE deletehash IS NOT NULL;
    CREATE INDEX items_by_created ON items (created_at DESC);
"];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A ledger in one SQLite file.
pub struct SqliteStore {
    connection: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the ledger at `path`, creating it (and its directory) when
    /// missing and migrating an older schema.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let open_error = |reason: String| LedgerError::Open {
            path: path.to_owned(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)
                .map_err(|e| open_error(format!("cannot create {}: {e}", dir.display())))?;
        }
        create_private_file(path).map_err(|e| open_error(e.to_string()))?;
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(e.to_string()))?;
        let mut store = Self {
            connection,
            path: path.to_owned(),
        };
        store.check_and_migrate()?;
        Ok(store)
    }

    /// Opens an existing ledger to read it; `None` when there is no file.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, LedgerError> {
        if !path.exists() {
            return Ok(None);
        }
        Self::open(path).map(Some)
    }

    fn corrupt(&self, reason: impl std::fmt::Display) -> LedgerError {
        LedgerError::Corrupt {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    fn check_and_migrate(&mut self) -> Result<(), LedgerError> {
        let conn = &self.connection;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.corrupt(e))?;
        // The first read of the header: "file is not a database" shows here.
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.corrupt(e))?;
        let application_id: i64 = conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(|e| self.corrupt(e))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|e| self.corrupt(e))?;
        if check != "ok" {
            return Err(self.corrupt(format!("quick_check: {check}")));
        }
        if version > SCHEMA_VERSION {
            return Err(LedgerError::NewerSchema {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version > 0 && application_id != APPLICATION_ID {
            return Err(self.corrupt(format!(
                "its application_id is {application_id:#x}, not pixgate's"
            )));
        }
        if version == 0 {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
                .map_err(|e| self.corrupt(e))?;
            if tables > 0 {
                return Err(self.corrupt("it holds tables but no pixgate schema"));
            }
        }
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(|e| self.open_error(e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.open_error(e))?;
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let to = from as i64 + 1;
            let migrate = || -> rusqlite::Result<()> {
                let tx = self.connection.unchecked_transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
                tx.pragma_update(None, "user_version", to)?;
                tx.commit()
            };
            migrate().map_err(|e| self.open_error(format!("migrating to schema {to}: {e}")))?;
            tracing::info!(path = %self.path.display(), version = to, "upload ledger schema migrated");
        }
        Ok(())
    }

    fn open_error(&self, reason: impl std::fmt::Display) -> LedgerError {
        LedgerError::Open {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }
}

fn store_error(e: rusqlite::Error) -> LedgerError {
    LedgerError::Store(e.to_string())
}

/// Creates `dir` (and its parents) with mode 0700 when missing.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the database file with mode 0600 before SQLite would create it
/// with the umask's mode; tightens an existing file's mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

const COLUMNS: &str =
    "provider, kind, id, deletehash, link, media_type, size, album, account, created_at, deleted_at";

fn entry_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let kind: String = row.get(1)?;
    let account: Option<String> = row.get(8)?;
    let size: Option<i64> = row.get(6)?;
    Ok(Entry {
        provider: row.get(0)?,
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Image),
        id: row.get(2)?,
        deletehash: row.get(3)?,
        link: row.get(4)?,
        media_type: row.get(5)?,
        size: size.and_then(|s| u64::try_from(s).ok()),
        album: row.get(7)?,
        anonymous: account.is_none(),
        account,
        created_at: row.get(9)?,
        deleted_at: row.get(10)?,
    })
}

impl LedgerStore for SqliteStore {
    fn record(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        self.connection
            .execute(
                "INSERT INTO items (provider, kind, id, deletehash, link, media_type, size, album, account, created_at, deleted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (provider, kind, id) DO UPDATE SET
                     deletehash = coalesce(excluded.deletehash, deletehash),
                     link = coalesce(excluded.link, link),
                     media_type = coalesce(excluded.media_type, media_type),
                     size = coalesce(excluded.size, size),
                     album = coalesce(excluded.album, album),
                     account = coalesce(excluded.account, account),
                     deleted_at = excluded.deleted_at",
                params![
                    entry.provider,
                    entry.kind.as_str(),
                    entry.id,
                    entry.deletehash,
                    entry.link,
                    entry.media_type,
                    entry.size.and_then(|s| i64::try_from(s).ok()),
                    entry.album,
                    entry.account,
                    entry.created_at,
                    entry.deleted_at,
                ],
            )
            .map(drop)
            .map_err(store_error)
    }

    fn mark_deleted(&mut self, kind: ItemKind, id: &str, at: i64) -> Result<(), LedgerError> {
        self.connection
            .execute(
                "UPDATE items SET deleted_at = ?3
                 WHERE provider = 'imgur' AND kind = ?1 AND id = ?2 AND deleted_at IS NULL",
                params![kind.as_str(), id, at],
            )
            .map(drop)
            .map_err(store_error)
    }

    fn find(&mut self, kind: ItemKind, key: &str) -> Result<Option<Entry>, LedgerError> {
        self.connection
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM items
                     WHERE provider = 'imgur' AND kind = ?1 AND (id = ?2 OR deletehash = ?2)
                     ORDER BY id = ?2 DESC LIMIT 1"
                ),
                params![kind.as_str(), key],
                entry_from,
            )
            .optional()
            .map_err(store_error)
    }

    fn list(&mut self, query: ListQuery) -> Result<Listed, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM items
                 WHERE ?1 IS NULL OR (account IS NULL) = ?1
                 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
            ))
            .map_err(store_error)?;
        let limit = i64::from(query.limit) + 1;
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let mut entries = statement
            .query_map(params![query.anonymous, limit, offset], entry_from)
            .map_err(store_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_error)?;
        let more = entries.len() > query.limit as usize;
        entries.truncate(query.limit as usize);
        Ok(Listed { entries, more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_store_keeps_the_ledger_store_contract() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = SqliteStore::open(&dir.path().join("pixgate.db")).expect("opens");
        crate::ledger::check_store_contract(&mut store);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_ledger_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pixgate.db");
        SqliteStore::open(&path).expect("opens");
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_file_of_another_program_is_refused_unchanged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("other.db");
        let other = Connection::open(&path).expect("opens");
        other
            .execute_batch("CREATE TABLE notes (text TEXT)")
            .expect("created");
        drop(other);
        let before = std::fs::read(&path).expect("read");
        let error = SqliteStore::open(&path).err().expect("refused");
        assert!(matches!(error, LedgerError::Corrupt { .. }), "{error}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
}
