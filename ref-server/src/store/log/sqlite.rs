//! Starting on a directory that has only the reference's store log: when the SQLite store
//! does not exist yet and `ntf-server-store.log` does, `start` imports the log (and the
//! last-notifications file, when there is one) into a new SQLite store first, with the same
//! replay and selection as `database import`, and renames the files as it does.
//!
//! The store is written to a temporary file and renamed into place only when complete, so a
//! failed import leaves no store and the next start tries again; nothing is imported over an
//! existing store. Service ids (`SERVICE` records) are not kept: the SQLite store's API has no
//! place for them, and the server associates its service again when it subscribes.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use ntf_proto::store_log::{LAST_NTFS_FILE, STORE_LOG_FILE};

use super::command::{finish_import_files, CommandError};
use super::select::select;
use super::state::LogState;
use crate::ntf::Store;
use crate::store::{SqliteConfig, SqliteStore, Synchronous};

/// What [`import_if_only_store_log`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteImport {
    /// Tokens, subscriptions and last notifications imported.
    pub counts: (usize, usize, usize),
    /// Lines of the store log that did not decode and were skipped.
    pub skipped_lines: Vec<String>,
    /// The original store log, renamed.
    pub original: PathBuf,
}

fn err(what: impl std::fmt::Display) -> CommandError {
    CommandError(what.to_string())
}

/// Imports `log_dir/ntf-server-store.log` into a new SQLite store at `db` when `db` does not
/// exist and the store log does; `Ok(None)` when there is nothing to do.
///
/// # Errors
/// A corrupt last-notification line, data the store's constraints reject, or file errors;
/// no store is made then and the files are as they were.
pub fn import_if_only_store_log(log_dir: &Path, db: &Path) -> Result<Option<SqliteImport>, CommandError> {
    let store_log = log_dir.join(STORE_LOG_FILE);
    let last_ntfs = log_dir.join(LAST_NTFS_FILE);
    if db.exists() || !store_log.exists() {
        return Ok(None);
    }
    let read = |p: &Path| fs::read(p).map_err(|e| err(format!("{}: {e}", p.display())));
    let (mut st, bad) = LogState::read_store_log(&read(&store_log)?);
    let skipped_lines = bad
        .iter()
        .map(|b| format!("{} line {}: {} - {}", store_log.display(), b.line, b.error, b.text))
        .collect();
    if last_ntfs.exists() {
        st.read_last_ntfs(&read(&last_ntfs)?).map_err(|b| {
            err(format!("{} line {}: {} - {}", last_ntfs.display(), b.line, b.error, b.text))
        })?;
    }
    let sel = select(&st, &BTreeSet::new());
    let mut tmp = db.as_os_str().to_os_string();
    tmp.push(".import");
    let tmp = PathBuf::from(tmp);
    let remove_tmp = || {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = tmp.as_os_str().to_os_string();
            p.push(suffix);
            let _ = fs::remove_file(PathBuf::from(p));
        }
    };
    // a leftover of an interrupted import
    remove_tmp();
    let written = (|| {
        let config = SqliteConfig { synchronous: Synchronous::Normal, ..SqliteConfig::default() };
        let mut store = SqliteStore::open_with(&tmp, &config).map_err(|e| err(format!("{}: {e}", tmp.display())))?;
        let what = |w: &'static str| move |e| err(format!("cannot import {w} into {}: {e}", db.display()));
        for t in &sel.tokens {
            store.add_token(t.clone()).map_err(what("a token"))?;
        }
        let subs = store.import_subscriptions(&sel.subs).map_err(what("the subscriptions"))?;
        for (t, s, n) in &sel.last_ntfs {
            store.add_last_notification(t, s, n.clone(), usize::MAX).map_err(what("a last notification"))?;
        }
        Ok::<_, CommandError>((sel.tokens.len(), subs, sel.last_ntfs.len()))
    })();
    let counts = match written {
        Ok(c) => c,
        Err(e) => {
            remove_tmp();
            return Err(e);
        }
    };
    // closed (checkpointed) above; then moved into place
    if let Err(e) = fs::rename(&tmp, db) {
        remove_tmp();
        return Err(err(format!("{}: {e}", db.display())));
    }
    let original = finish_import_files(&st, &store_log, &last_ntfs)?;
    Ok(Some(SqliteImport { counts, skipped_lines, original }))
}
