//! `start --compact-log`: the store log read and written again in its compacted form before
//! the server opens it, as the reference's `readWriteStoreLog` (`Server/StoreLog.hs`, called
//! by `compactDbStoreLog` in `Notifications/Server/Env.hs`):
//!
//! ```text
//! ntf-server-store.log.start exists (a compaction was interrupted):
//!     ntf-server-store.log, when it exists, is renamed .bak; .start becomes the log
//! the log exists:  read (bad lines reported and skipped), renamed .start, the compacted
//!                  state written as the log (synced), .start renamed .<ISO 8601 UTC time>
//! no log:          an empty one is made
//! ```
//!
//! Ours does not remove old backups (the reference removes those older than 21 days but
//! three).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ntf_proto::store_log::STORE_LOG_FILE;

use super::state::{BadLine, LogState};

/// What [`compact`] did.
#[derive(Debug, Default)]
pub struct Compacted {
    /// The lines that did not decode and were dropped.
    pub bad_lines: Vec<BadLine>,
    /// The original log, kept.
    pub original: Option<PathBuf>,
    /// The log of an interrupted compaction that was restored (and the log then there, kept
    /// as `.bak`).
    pub restored: bool,
}

fn io(p: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", p.display())
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Compacts `log_dir/ntf-server-store.log`.
///
/// # Errors
/// A file that cannot be read, written or renamed (one line naming it).
pub fn compact(log_dir: &Path) -> Result<Compacted, String> {
    let log = log_dir.join(STORE_LOG_FILE);
    let start = with_suffix(&log, ".start");
    let mut out = Compacted::default();
    if start.exists() {
        if log.exists() {
            fs::rename(&log, with_suffix(&log, ".bak")).map_err(io(&log))?;
        }
        fs::rename(&start, &log).map_err(io(&start))?;
        out.restored = true;
    }
    if !log.exists() {
        fs::File::create(&log).map_err(io(&log))?;
        return Ok(out);
    }
    let (st, bad) = LogState::read_store_log(&fs::read(&log).map_err(io(&log))?);
    out.bad_lines = bad;
    fs::rename(&log, &start).map_err(io(&log))?;
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&log).map_err(io(&log))?;
    f.write_all(&st.compacted()).and_then(|()| f.sync_all()).map_err(io(&log))?;
    let original = with_suffix(&log, &format!(".{}", humantime::format_rfc3339_seconds(std::time::SystemTime::now())));
    fs::rename(&start, &original).map_err(io(&start))?;
    out.original = Some(original);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record and its deletion leave nothing; a live token stays; a bad line is dropped;
    /// the original is kept; an interrupted compaction's `.start` wins over the log.
    #[test]
    fn compacts_and_keeps_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(STORE_LOG_FILE);
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../../spec/vectors/store_log.json")).unwrap();
        let hex = |h: &str| (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
        let create = vectors
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["name"].as_str().is_some_and(|n| n.starts_with("store_log/TCREATE")))
            .map(|v| String::from_utf8(hex(v["hex"].as_str().unwrap())).unwrap())
            .next()
            .expect("a TCREATE vector");
        let id = create.split(' ').nth(1).unwrap().trim_start_matches("tknId=").to_string();
        let text = format!("{create}\nTCRON {id} 20\nnot a record\nTDELETE AAAA\n");
        fs::write(&log, &text).unwrap();
        let c = compact(dir.path()).unwrap();
        assert_eq!(c.bad_lines.len(), 1);
        assert!(!c.restored);
        let original = c.original.unwrap();
        assert_eq!(fs::read_to_string(&original).unwrap(), text);
        let (st, bad) = LogState::read_store_log(&fs::read(&log).unwrap());
        assert!(bad.is_empty());
        assert_eq!(st.tokens.len(), 1);
        assert_eq!(st.tokens.values().next().unwrap().cron_interval, 20);
        assert_eq!(fs::read(&log).unwrap(), st.compacted());
        assert!(!with_suffix(&log, ".start").exists());

        // interrupted: .start is the state to use, the log then there kept as .bak
        fs::write(with_suffix(&log, ".start"), format!("{create}\n")).unwrap();
        fs::write(&log, "half written").unwrap();
        let c = compact(dir.path()).unwrap();
        assert!(c.restored);
        assert_eq!(fs::read_to_string(with_suffix(&log, ".bak")).unwrap(), "half written");
        assert_eq!(LogState::read_store_log(&fs::read(&log).unwrap()).0.tokens.len(), 1);

        // none: an empty log
        let empty = tempfile::tempdir().unwrap();
        let c = compact(empty.path()).unwrap();
        assert!(c.original.is_none());
        assert_eq!(fs::read(empty.path().join(STORE_LOG_FILE)).unwrap(), b"");
    }
}
