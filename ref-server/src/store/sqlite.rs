//! The embedded default [`Store`]: one SQLite file in the server's directory, no setup.
//!
//! The database runs in WAL mode with `synchronous=FULL` by default: every mutating trait call
//! is one `BEGIN IMMEDIATE` transaction whose commit is synced to disk before the call returns,
//! so an acknowledged change survives a kill of the process and a power loss.
//! [`Synchronous::Normal`] syncs only at WAL checkpoints: a committed change still survives a
//! crash of the process (the WAL is in the OS page cache), but not a crash of the machine.
//!
//! Tables, columns and indexes are the reference's `ntf_server` schema in SQLite types
//! (`BYTEA` -> `BLOB`, `BIGINT`/`BOOLEAN` -> `INTEGER`, `TIMESTAMPTZ` -> Unix seconds), with
//! foreign keys enforced (cascading deletes as in the reference).

use std::path::{Path, PathBuf};
use std::string::String;
use std::time::Duration;
use std::vec::Vec;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params, Connection, ErrorCode, Row};

use super::sql::{Backend, Conn, DbRow, SqlStore, Val};
use super::Migration;
use crate::ntf::{StoreError, StoreResult};

/// When SQLite syncs the database file (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is synced (`FULL`): durable across process and machine crashes.
    #[default]
    Full,
    /// Synced at WAL checkpoints only (`NORMAL`): durable across process crashes; a machine
    /// crash may lose the most recent commits (never corrupts the database).
    Normal,
}

/// Settings of a [`SqliteStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteConfig {
    /// When commits are synced.
    pub synchronous: Synchronous,
    /// How long a statement waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// The page cache size in KiB (`PRAGMA cache_size=-N`; SQLite's default is 2 MiB, too
    /// small for random access to a large subscriptions table).
    pub cache_kib: u32,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            cache_kib: 64 * 1024,
        }
    }
}

/// The SQLite schema migrations (the reference's, then ours).
const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "20250417_initial",
        sql: "
CREATE TABLE tokens(
  token_id BLOB NOT NULL,
  push_provider TEXT NOT NULL,
  push_provider_token BLOB NOT NULL,
  status TEXT NOT NULL,
  verify_key BLOB NOT NULL,
  dh_priv_key BLOB NOT NULL,
  dh_secret BLOB NOT NULL,
  reg_code BLOB NOT NULL,
  cron_interval INTEGER NOT NULL,
  cron_sent_at INTEGER,
  updated_at INTEGER,
  PRIMARY KEY (token_id)
);
CREATE UNIQUE INDEX idx_tokens_push_provider_token ON tokens(push_provider, push_provider_token, verify_key);
CREATE INDEX idx_tokens_status_cron_interval_sent_at ON tokens(status, cron_interval, (cron_sent_at + cron_interval * 60));
CREATE TABLE smp_servers(
  smp_server_id INTEGER PRIMARY KEY AUTOINCREMENT,
  smp_host TEXT NOT NULL,
  smp_port TEXT NOT NULL,
  smp_keyhash BLOB NOT NULL
);
CREATE UNIQUE INDEX idx_smp_servers ON smp_servers(smp_host, smp_port, smp_keyhash);
CREATE TABLE subscriptions(
  subscription_id BLOB NOT NULL,
  token_id BLOB NOT NULL REFERENCES tokens ON DELETE CASCADE ON UPDATE RESTRICT,
  smp_server_id INTEGER REFERENCES smp_servers ON DELETE RESTRICT ON UPDATE RESTRICT,
  smp_notifier_id BLOB NOT NULL,
  smp_notifier_key BLOB NOT NULL,
  status TEXT NOT NULL,
  PRIMARY KEY (subscription_id)
);
CREATE UNIQUE INDEX idx_subscriptions_smp_server_id_notifier_id ON subscriptions(smp_server_id, smp_notifier_id);
CREATE INDEX idx_subscriptions_smp_server_id_status ON subscriptions(smp_server_id, status);
CREATE INDEX idx_subscriptions_token_id ON subscriptions(token_id);
CREATE TABLE last_notifications(
  token_ntf_id INTEGER PRIMARY KEY AUTOINCREMENT,
  token_id BLOB NOT NULL REFERENCES tokens ON DELETE CASCADE ON UPDATE RESTRICT,
  subscription_id BLOB NOT NULL REFERENCES subscriptions ON DELETE CASCADE ON UPDATE RESTRICT,
  sent_at INTEGER NOT NULL,
  nmsg_nonce BLOB NOT NULL,
  nmsg_data BLOB NOT NULL
);
CREATE INDEX idx_last_notifications_token_id_sent_at ON last_notifications(token_id, sent_at);
CREATE INDEX idx_last_notifications_subscription_id ON last_notifications(subscription_id);
CREATE UNIQUE INDEX idx_last_notifications_token_subscription ON last_notifications(token_id, subscription_id);
",
    },
    Migration {
        name: "20250517_service_cert",
        sql: "
ALTER TABLE smp_servers ADD COLUMN ntf_service_id BLOB;
ALTER TABLE subscriptions ADD COLUMN ntf_service_assoc INTEGER NOT NULL DEFAULT 0;
DROP INDEX idx_subscriptions_smp_server_id_status;
CREATE INDEX idx_subscriptions_smp_server_id_ntf_service_status ON subscriptions(smp_server_id, ntf_service_assoc, status);
",
    },
    Migration {
        name: "rs_20250901_subscriptions_server_order",
        sql: "
CREATE INDEX idx_subscriptions_smp_server_id_subscription_id ON subscriptions(smp_server_id, subscription_id);
",
    },
    Migration {
        name: "rs_20261122_notifier_public_key",
        sql: "
ALTER TABLE subscriptions ADD COLUMN smp_notifier_public_key BLOB;
",
    },
];

/// The SQLite [`Store`](crate::ntf::Store): the [one body](super::sql) on [`SqliteDb`].
pub type SqliteStore = SqlStore<SqliteDb>;

/// The SQLite connection behind a [`SqliteStore`].
pub struct SqliteDb {
    conn: Connection,
}

/// The connection while a [`SqliteStore`] call runs (in its transaction, for a write).
pub struct SqliteTx<'a> {
    conn: &'a Connection,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

/// Maps a unique-key violation to `Duplicate` and a foreign-key violation to `NotFound`.
fn classify(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.code == ErrorCode::ConstraintViolation {
            match f.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return StoreError::Duplicate
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::NotFound,
                _ => {}
            }
        }
    }
    db(e)
}

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Val::Int(v) | Val::OptInt(Some(v)) => ToSqlOutput::Owned(Value::Integer(v)),
            Val::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(b))),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Bytes(b) | Val::OptBytes(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Val::OptInt(None) | Val::OptBytes(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

super::sql::db_row!(Row<'_>, get, db);

impl Conn for SqliteTx<'_> {
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        each: &mut dyn FnMut(&dyn DbRow) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut st = self.conn.prepare_cached(sql).map_err(db)?;
        let mut rows = st.query(rusqlite::params_from_iter(params)).map_err(classify)?;
        while let Some(r) = rows.next().map_err(classify)? {
            each(r)?;
        }
        Ok(())
    }

    fn execute_rows(&mut self, sql: &str, width: usize, params: &[Val<'_>]) -> StoreResult<u64> {
        let mut st = self.conn.prepare_cached(sql).map_err(db)?;
        if width == 0 {
            return st.execute([]).map(|n| n as u64).map_err(classify);
        }
        let mut n = 0;
        for row in params.chunks(width) {
            n += st.execute(rusqlite::params_from_iter(row)).map_err(classify)? as u64;
        }
        Ok(n)
    }
}

impl Backend for SqliteDb {
    type Tx<'a> = SqliteTx<'a>;
    type Info = PathBuf;
    const FOR_UPDATE: &'static str = "";
    // SQLite keeps no estimate: the count
    const SUB_COUNT_SQL: &'static str = "SELECT count(1) FROM subscriptions";
    const SUBS_BY_SERVER: &'static str =
        "subscriptions s INDEXED BY idx_subscriptions_smp_server_id_subscription_id";
    const MIGRATIONS_SQL: &'static str = "SELECT name FROM schema_version ORDER BY version";

    fn run<T>(
        &mut self,
        write: bool,
        f: impl FnOnce(&mut SqliteTx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if !write {
            return f(&mut SqliteTx { conn: &self.conn });
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let v = f(&mut SqliteTx { conn: &tx })?;
        tx.commit().map_err(db)?;
        Ok(v)
    }

    fn timestamp(param: &str) -> String {
        // Unix seconds
        param.into()
    }

    fn epoch_seconds(col: &str) -> String {
        col.into()
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqlStore<SqliteDb> {
    /// Opens (creating when missing) the database at `path` with the default settings and
    /// applies the migrations.
    ///
    /// # Errors
    /// The file cannot be opened, is not a database of this schema, or has a newer schema.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, &SqliteConfig::default())
    }

    /// Opens the database at `path` with `config` (see [`SqliteStore::open`]).
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, config: &SqliteConfig) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(config.busy_timeout).map_err(db)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "sqlite: WAL mode not available (journal_mode={mode})"
            )));
        }
        let sync = match config.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; PRAGMA cache_size=-{};",
            config.cache_kib
        ))
        .map_err(db)?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn)?;
        Ok(Self::new(SqliteDb { conn }, path))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.info()
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version(
           version INTEGER PRIMARY KEY,
           name TEXT NOT NULL,
           applied_at INTEGER NOT NULL
         );",
    )
    .map_err(db)?;
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if current > limit(MIGRATIONS.len()) {
        return Err(StoreError::Backend(format!(
            "sqlite: database schema version {current} is newer than this server's {}",
            MIGRATIONS.len()
        )));
    }
    for (i, m) in MIGRATIONS.iter().enumerate() {
        let version = limit(i + 1);
        if version <= current {
            continue;
        }
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        tx.execute_batch(m.sql).map_err(db)?;
        tx.execute(
            "INSERT INTO schema_version(version, name, applied_at) VALUES (?1, ?2, unixepoch())",
            params![version, m.name],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

