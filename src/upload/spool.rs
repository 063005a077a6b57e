//! The spool: an upload's file as the gateway keeps it while it is sent
//! (and maybe sent again), in memory up to [`MEMORY_SPOOL_BYTES`], then in
//! a temp file that is deleted when the spool is dropped.

use bytes::{Bytes, BytesMut};
use std::io;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::multipart::ByteStream;

/// Spools up to this size stay in memory.
pub(super) const MEMORY_SPOOL_BYTES: usize = 2 * 1024 * 1024;
/// A spool file is written in blocks this large: each write is a hop to
/// the blocking pool, so small writes are slow.
const SPOOL_BLOCK: usize = 1024 * 1024;
/// Reads back from a spool file in chunks this large, for the same reason.
const SPOOL_READ_CHUNK: usize = 256 * 1024;

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
enum SpoolReader {
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

    /// Takes the temp file out (the spool is empty afterwards), so that
    /// the caller decides where it is deleted.
    pub(super) fn take_file(&mut self) -> Option<tempfile::TempPath> {
        let storage = std::mem::replace(&mut self.storage, Storage::Memory(Bytes::new()));
        self.len = 0;
        match storage {
            Storage::File(path) => Some(path),
            Storage::Memory(_) => None,
        }
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
    async fn reader(&self) -> io::Result<SpoolReader> {
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
    /// Holding the chunk would pass the upload budget.
    #[error(transparent)]
    Busy(#[from] super::Busy),
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
}
