//! The store log while the server runs: `ntf-server-store.log` opened for appending, as the
//! reference's `openWriteStoreLog True`, and records written as its `writeStoreLogRecord`
//! writes them: each record's text and a line feed, handed to the operating system before the
//! call returns (the reference's `hPut` and `hFlush`; no `fsync`, as there).
//!
//! A failed write is logged and the server goes on, as the reference's `withLog_` (`STORE:
//! <op>, withLog, <error>`): the database holds the change, only the log misses it. Ours, so
//! that one failure costs one record: when a write stopped part way through a line, the next
//! write starts with a line feed, so the partial line stays a line of its own (which a reader
//! reports and skips) instead of swallowing the next record.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ntf_proto::store_log::StoreLogRecord;

/// The open store log.
#[derive(Debug)]
pub struct StoreLogWriter {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// A write stopped part way through a line.
    partial_line: bool,
    failures: u64,
}

impl StoreLogWriter {
    /// Opens `path` for appending, creating it when missing.
    ///
    /// # Errors
    /// The file cannot be opened or created.
    pub fn open_append(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(Self { path: path.to_path_buf(), file, buf: Vec::with_capacity(512), partial_line: false, failures: 0 })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many writes failed since the file was opened.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Appends `records`, one line each, in one write; `op` names the store call in the
    /// warning of a failure (the reference's operation names).
    pub fn write(&mut self, op: &str, records: &[StoreLogRecord]) {
        if records.is_empty() {
            return;
        }
        self.buf.clear();
        if self.partial_line {
            self.buf.push(b'\n');
        }
        for r in records {
            r.encode(&mut self.buf);
            self.buf.push(b'\n');
        }
        let mut written = 0;
        let result = loop {
            match self.file.write(&self.buf[written..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    written += n;
                    if written == self.buf.len() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => self.partial_line = false,
            Err(e) => {
                // a partial line ends without a line feed; nothing written leaves it as it was
                self.partial_line |= written > 0 && self.buf[written - 1] != b'\n';
                self.failures += 1;
                tracing::warn!("STORE: {op}, withLog, {}: {e}", self.path.display());
            }
        }
    }
}
