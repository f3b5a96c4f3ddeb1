//! `ntf-server database import|export`: the reference's `Database` command of
//! `Notifications/Server/Main.hs` (`ntfServerCLI`), with its refusals, its confirmation and
//! what it does with the files afterwards.
//!
//! ```text
//! import: refused when the schema exists (also naming the store log when that exists too),
//!         when the store log or the last-notifications file is missing, or when
//!         [STORE_LOG] enable is not on; then asks to confirm (exactly "Y");
//!         afterwards the original store log is kept as ntf-server-store.log.<ISO 8601 time>,
//!         the compacted one as ntf-server-store.log.bak, and the last notifications as
//!         ntf-server-last-notifications.log.bak
//! export: refused when the schema does not exist, or the store log or the last-notifications
//!         file exists; then asks to confirm; writes both files
//! ```
//!
//! Where we differ, so that bad input never costs data: both files are read and checked
//! before anything is written (the reference compacts the store log before it reads the
//! last notifications, and a corrupt last-notification line then stops it half way); the
//! import is one transaction and a failed one drops the schema it made (the reference leaves
//! a partly filled schema, which the next import refuses); the export writes temporary files
//! and renames them when complete, and also writes the servers' service ids (`SERVICE`
//! records, which the reference's import reads but its export leaves out).

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use ntf_proto::command::NtfEntityId;
use ntf_proto::store_log::{LAST_NTFS_FILE, STORE_LOG_FILE};

use super::pg::{self, PgError};
use super::select::select;
use super::state::LogState;
use crate::server::config::{Config, CONFIG_FILE, LEGACY_CONFIG_FILE};
use crate::store::PgConfig;

/// `import` or `export`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseCommand {
    /// Store log and last notifications into a new schema; the token ids of `--skip-tokens`
    /// are left out when they are duplicate registrations.
    Import {
        /// `--skip-tokens`.
        skip_tokens: BTreeSet<NtfEntityId>,
    },
    /// The schema into a store log and a last-notifications file.
    Export,
}

/// Where the files and the database are.
#[derive(Clone, Debug)]
pub struct DatabaseOptions {
    /// The configuration directory (`ntf-server.ini` or `ntf-server.toml`).
    pub config_dir: PathBuf,
    /// The directory of the store log and the last-notifications file (the reference's
    /// `/var/opt/simplex-notifications`).
    pub log_dir: PathBuf,
    /// The database and schema.
    pub pg: PgConfig,
}

/// A failure of the command: one line for the operator. Nothing was written.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandError(pub String);

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandError {}

impl From<PgError> for CommandError {
    fn from(e: PgError) -> Self {
        Self(e.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, CommandError> {
    Err(CommandError(msg.into()))
}

/// The `--skip-tokens` list: base64url token ids separated by commas (the reference's
/// `strParse` of a `Set NtfTokenId`).
///
/// # Errors
/// An id that is not base64url.
pub fn parse_token_ids(s: &str) -> Result<BTreeSet<NtfEntityId>, String> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            smp_proto::text::base64url_decode(t.as_bytes())
                .ok()
                .filter(|b| !b.is_empty())
                .and_then(NtfEntityId::new)
                .ok_or_else(|| format!("bad token id {t:?}"))
        })
        .collect()
}

/// The reference's `settingIsOn "STORE_LOG" "enable"` of `ntf-server.ini` (read and checked
/// as `start` reads it); `None` for a directory with only our older `ntf-server.toml`.
fn store_log_enabled(config_dir: &Path) -> Result<Option<bool>, CommandError> {
    if !config_dir.join(CONFIG_FILE).exists() {
        return Ok(None);
    }
    let config = Config::load(config_dir).map_err(|e| CommandError(format!("{e:#}")))?;
    Ok(Some(config.store.store_log))
}

fn check_initialized(config_dir: &Path) -> Result<(), CommandError> {
    let ini = config_dir.join(CONFIG_FILE);
    if ini.exists() || config_dir.join(LEGACY_CONFIG_FILE).exists() {
        Ok(())
    } else {
        fail(format!(
            "the server is not initialized ({} does not exist): run `ntf-server init`",
            ini.display()
        ))
    }
}

/// The reference's `confirmOrExit`: the warning, `Continue (Y/n): `, and only `Y` goes on.
fn confirm(
    warning: &str,
    refused: &str,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    write!(out, "{warning}\nContinue (Y/n): ").ok();
    out.flush().ok();
    let mut answer = String::new();
    input.read_line(&mut answer).ok();
    if answer.trim_end_matches(['\n', '\r']) == "Y" {
        Ok(())
    } else {
        fail(refused)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CommandError> {
    fs::read(path).map_err(|e| CommandError(format!("{}: {e}", path.display())))
}

/// Runs the command. Messages go to `out`, the confirmation is read from `input`.
///
/// # Errors
/// A refusal, a declined confirmation, a corrupt last-notifications line, a database or file
/// failure: one line; nothing was written then (a failed import drops the schema it made).
pub fn run(
    cmd: &DatabaseCommand,
    opts: &DatabaseOptions,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    check_initialized(&opts.config_dir)?;
    let store_log = opts.log_dir.join(STORE_LOG_FILE);
    let last_ntfs = opts.log_dir.join(LAST_NTFS_FILE);
    let schema_exists = pg::schema_exists(&opts.pg)?;
    let (log_exists, ntfs_exists) = (store_log.exists(), last_ntfs.exists());
    let schema = &opts.pg.schema;
    let both = || {
        fail(format!(
            "both {} and the schema {schema} exist: configure which store the server uses",
            store_log.display()
        ))
    };
    match cmd {
        DatabaseCommand::Import { skip_tokens } => {
            if schema_exists && (log_exists || ntfs_exists) {
                return both();
            }
            if schema_exists {
                return fail(format!("the schema {schema} already exists in the database"));
            }
            if !log_exists {
                return fail(format!("{} does not exist", store_log.display()));
            }
            if !ntfs_exists {
                return fail(format!("{} does not exist", last_ntfs.display()));
            }
            if store_log_enabled(&opts.config_dir)? == Some(false) {
                return fail("the store log is disabled: see [STORE_LOG] enable in ntf-server.ini");
            }
            confirm(
                &format!(
                    "WARNING: the store log {} will be compacted and imported into the PostgreSQL schema {schema}",
                    store_log.display()
                ),
                "The store was not imported.",
                input,
                out,
            )?;
            import(opts, skip_tokens, &store_log, &last_ntfs, out)
        }
        DatabaseCommand::Export => {
            if schema_exists && log_exists {
                return both();
            }
            if !schema_exists {
                return fail(format!("the schema {schema} does not exist in the database"));
            }
            if log_exists {
                return fail(format!("{} already exists", store_log.display()));
            }
            if ntfs_exists {
                return fail(format!("{} already exists", last_ntfs.display()));
            }
            confirm(
                &format!(
                    "WARNING: the PostgreSQL schema {schema} will be exported to the store log {}",
                    store_log.display()
                ),
                "The store was not exported.",
                input,
                out,
            )?;
            export(opts, &store_log, &last_ntfs, out)
        }
    }
}

fn import(
    opts: &DatabaseOptions,
    skip_tokens: &BTreeSet<NtfEntityId>,
    store_log: &Path,
    last_ntfs: &Path,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let (mut st, bad) = LogState::read_store_log(&read(store_log)?);
    // as the reference's `readNtfStore`: a line that does not decode is reported and skipped
    for b in &bad {
        writeln!(out, "Error parsing log: {} line {}: {} - {}", store_log.display(), b.line, b.error, b.text).ok();
    }
    // as `restoreServerLastNtfs`: a line that does not decode stops the import
    st.read_last_ntfs(&read(last_ntfs)?).map_err(|b| {
        CommandError(format!("{} line {}: {} - {}", last_ntfs.display(), b.line, b.error, b.text))
    })?;
    let sel = select(&st, skip_tokens);
    for n in &sel.notes {
        writeln!(out, "{n}").ok();
    }
    let n = pg::import(&opts.pg, &sel, out)?;
    let original = finish_import_files(&st, store_log, last_ntfs)?;
    writeln!(
        out,
        "Import completed: {} tokens, {} subscriptions, {} service associations, {} last token notifications.",
        n.tokens, n.subscriptions, n.services, n.last_notifications
    )
    .ok();
    writeln!(out, "The original store log is kept as {}.", original.display()).ok();
    writeln!(out, "Configure the database options in the server configuration.").ok();
    Ok(())
}

/// The files as the reference leaves them after an import: the original store log with the
/// time appended, the compacted state as `.bak`, the last notifications (when there is a
/// file) as `.bak`. Returns where the original went.
///
/// # Errors
/// A file that cannot be written or renamed (the store was imported then).
pub fn finish_import_files(st: &LogState, store_log: &Path, last_ntfs: &Path) -> Result<PathBuf, CommandError> {
    let stamp = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
    let original = with_suffix(store_log, &format!(".{stamp}"));
    let compacted = with_suffix(store_log, ".bak");
    let moved = fs::write(&compacted, st.compacted())
        .and_then(|()| fs::rename(store_log, &original))
        .and_then(|()| match last_ntfs.exists() {
            true => fs::rename(last_ntfs, with_suffix(last_ntfs, ".bak")),
            false => Ok(()),
        });
    match moved {
        Ok(()) => Ok(original),
        Err(e) => fail(format!(
            "the store was imported, but renaming {} failed: {e}; move it and {} away before starting",
            store_log.display(),
            last_ntfs.display()
        )),
    }
}

fn export(
    opts: &DatabaseOptions,
    store_log: &Path,
    last_ntfs: &Path,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    // migrations as the reference's `newNtfDbStore` applies them
    crate::store::PgStore::open(opts.pg.clone()).map_err(|e| CommandError(e.to_string()))?;
    let (log_tmp, ntfs_tmp) = (with_suffix(store_log, ".tmp"), with_suffix(last_ntfs, ".tmp"));
    let create = |p: &Path| {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(p)
            .map(std::io::BufWriter::new)
            .map_err(|e| CommandError(format!("{}: {e}", p.display())))
    };
    let mut created = Vec::new();
    let result = (|| {
        let mut log = create(&log_tmp)?;
        created.push(log_tmp.clone());
        let mut ntfs = create(&ntfs_tmp)?;
        created.push(ntfs_tmp.clone());
        let n = pg::export(&opts.pg, &mut log, &mut ntfs)?;
        for (w, p) in [(log, &log_tmp), (ntfs, &ntfs_tmp)] {
            let f = w.into_inner().map_err(|e| CommandError(format!("{}: {e}", p.display())))?;
            f.sync_all().map_err(|e| CommandError(format!("{}: {e}", p.display())))?;
        }
        fs::rename(&log_tmp, store_log)
            .and_then(|()| fs::rename(&ntfs_tmp, last_ntfs))
            .map_err(|e| CommandError(format!("{}: {e}", opts.log_dir.display())))?;
        Ok(n)
    })();
    let n = match result {
        Ok(n) => n,
        Err(e) => {
            // only the temporary files this run made (`create_new`)
            for p in created {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
    };
    writeln!(out, "Exported {} tokens", n.tokens).ok();
    writeln!(out, "Exported {} subscriptions", n.subscriptions).ok();
    writeln!(
        out,
        "Export completed: {} tokens, {} subscriptions, {} service associations, {} last token notifications.",
        n.tokens, n.subscriptions, n.services, n.last_notifications
    )
    .ok();
    Ok(())
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}
