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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::string::String;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use std::vec::Vec;

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, Transaction};
use smp_proto::keys::AuthPublicKey;
use smp_proto::server::SmpServer;

use super::rows::{
    self, ServerRow, SubRow, TokenRow, SERVER_COLUMNS, SUB_COLUMNS, SUB_COLUMN_COUNT, TOKEN_COLUMNS,
    T_TOKEN_COLUMNS,
};
use super::{Migration, SHOULD_SUBSCRIBE_SQL};
use crate::ntf::{Store, StoreError, StoreResult, SubscriptionRecord, TokenRecord};

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

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// Maps a unique-key violation to `Duplicate`.
fn dup(e: rusqlite::Error) -> StoreError {
    if is_constraint(&e) {
        StoreError::Duplicate
    } else {
        db(e)
    }
}

fn token_row(r: &Row<'_>, at: usize) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        token_id: r.get(at)?,
        push_provider: r.get(at + 1)?,
        push_provider_token: r.get(at + 2)?,
        status: r.get(at + 3)?,
        verify_key: r.get(at + 4)?,
        dh_priv_key: r.get(at + 5)?,
        dh_secret: r.get(at + 6)?,
        reg_code: r.get(at + 7)?,
        cron_interval: r.get(at + 8)?,
        cron_sent_at: r.get(at + 9)?,
        updated_at: r.get(at + 10)?,
    })
}

fn sub_row(r: &Row<'_>, at: usize) -> rusqlite::Result<SubRow> {
    Ok(SubRow {
        subscription_id: r.get(at)?,
        token_id: r.get(at + 1)?,
        smp_notifier_id: r.get(at + 2)?,
        smp_notifier_key: r.get(at + 3)?,
        status: r.get(at + 4)?,
        ntf_service_assoc: r.get(at + 5)?,
        smp_notifier_public_key: r.get(at + 6)?,
    })
}

fn server_row(r: &Row<'_>, at: usize) -> rusqlite::Result<ServerRow> {
    Ok(ServerRow {
        host: r.get(at)?,
        port: r.get(at + 1)?,
        keyhash: r.get(at + 2)?,
    })
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

struct Inner {
    conn: Connection,
    /// SMP server ids known to be committed (servers are never deleted).
    servers: HashMap<SmpServer, i64>,
}

impl Inner {
    /// The id of a committed server, from the cache or the database.
    fn server_id(&mut self, server: &SmpServer) -> StoreResult<Option<i64>> {
        if let Some(id) = self.servers.get(server) {
            return Ok(Some(*id));
        }
        let row = ServerRow::new(server);
        let id: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT smp_server_id FROM smp_servers \
                 WHERE smp_host = ?1 AND smp_port = ?2 AND smp_keyhash = ?3",
            )
            .and_then(|mut st| {
                st.query_row(params![row.host, row.port, row.keyhash], |r| r.get(0))
                    .optional()
            })
            .map_err(db)?;
        if let Some(id) = id {
            self.servers.insert(server.clone(), id);
        }
        Ok(id)
    }
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits; rolls back on an error.
fn write<T>(
    inner: &mut Inner,
    f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let tx = inner
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let v = f(&tx)?;
    tx.commit().map_err(db)?;
    Ok(v)
}

/// The queues of the subscriptions selected by `cond` on `s` (joined with `t` and `p`).
fn queues_where(
    tx: &Transaction<'_>,
    cond: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<SmpQueueNtf>> {
    let sql = format!(
        "SELECT {SERVER_COLUMNS}, s.smp_notifier_id FROM subscriptions s \
         JOIN tokens t ON t.token_id = s.token_id \
         JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
         WHERE {cond} ORDER BY t.token_id, s.subscription_id"
    );
    let mut st = tx.prepare_cached(&sql).map_err(db)?;
    let rows = st
        .query_map(params, |r| Ok((server_row(r, 0)?, r.get::<_, Vec<u8>>(3)?)))
        .map_err(db)?;
    let mut out = Vec::new();
    for r in rows {
        let (srv, nid) = r.map_err(db)?;
        out.push(rows::queue(srv.to_server()?, nid)?);
    }
    Ok(out)
}

/// The SQLite [`Store`].
pub struct SqliteStore {
    inner: Mutex<Inner>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
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
        Ok(Self {
            inner: Mutex::new(Inner {
                conn,
                servers: HashMap::new(),
            }),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the applied migrations, oldest first.
    ///
    /// # Errors
    /// Backend failures.
    pub fn migrations(&self) -> StoreResult<Vec<String>> {
        let g = self.lock();
        let mut st = g
            .conn
            .prepare("SELECT name FROM schema_version ORDER BY version")
            .map_err(db)?;
        let names = st
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(db)?;
        Ok(names)
    }

    /// Numbers of tokens, subscriptions and last notifications (`getEntityCounts`).
    ///
    /// # Errors
    /// Backend failures.
    pub fn counts(&self) -> StoreResult<(u64, u64, u64)> {
        let g = self.lock();
        let count = |table: &str| -> StoreResult<u64> {
            let n: i64 = g
                .conn
                .query_row(&format!("SELECT count(1) FROM {table}"), [], |r| r.get(0))
                .map_err(db)?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok((
            count("tokens")?,
            count("subscriptions")?,
            count("last_notifications")?,
        ))
    }

    /// Adds many subscriptions in one transaction (an import; the server adds them one by
    /// one with [`Store::add_subscription`]). Subscriptions whose queue already has one are
    /// skipped; returns how many were added.
    ///
    /// # Errors
    /// `NotFound` when a token is missing, `Duplicate` for a taken id; nothing is added then.
    pub fn import_subscriptions(&mut self, subs: &[SubscriptionRecord]) -> StoreResult<usize> {
        let mut g = self.lock();
        let inner = &mut *g;
        let mut new_servers = Vec::new();
        let mut n = 0;
        let tx = inner
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        for sub in subs {
            let srv = match inner.servers.get(&sub.queue.server) {
                Some(id) => *id,
                None => {
                    let id = upsert_server(&tx, &sub.queue.server)?;
                    inner.servers.insert(sub.queue.server.clone(), id);
                    new_servers.push(sub.queue.server.clone());
                    id
                }
            };
            match insert_sub(&tx, srv, sub) {
                Ok(added) => n += usize::from(added),
                Err(e) => {
                    for s in &new_servers {
                        inner.servers.remove(s);
                    }
                    return Err(e);
                }
            }
        }
        let r = tx.commit().map_err(db);
        if r.is_err() {
            for s in &new_servers {
                inner.servers.remove(s);
            }
        }
        r.map(|()| n)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding the lock left no open transaction (it rolled back on drop)
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_token_where(
        &self,
        cond: &str,
        params: impl rusqlite::Params,
    ) -> StoreResult<Option<TokenRecord>> {
        let g = self.lock();
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {cond}");
        let row = g
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row(params, |r| token_row(r, 0)).optional())
            .map_err(db)?;
        row.map(TokenRow::into_record).transpose()
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

fn upsert_server(tx: &Transaction<'_>, server: &SmpServer) -> StoreResult<i64> {
    let row = ServerRow::new(server);
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT smp_server_id FROM smp_servers \
             WHERE smp_host = ?1 AND smp_port = ?2 AND smp_keyhash = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![row.host, row.port, row.keyhash], |r| r.get(0))
                .optional()
        })
        .map_err(db)?;
    if let Some(id) = found {
        return Ok(id);
    }
    tx.prepare_cached(
        "INSERT INTO smp_servers (smp_host, smp_port, smp_keyhash) VALUES (?1, ?2, ?3) \
         RETURNING smp_server_id",
    )
    .and_then(|mut st| st.query_row(params![row.host, row.port, row.keyhash], |r| r.get(0)))
    .map_err(db)
}

/// Inserts a subscription whose token exists; `false` when the queue has one.
fn insert_sub(tx: &Transaction<'_>, server_id: i64, sub: &SubscriptionRecord) -> StoreResult<bool> {
    let row = SubRow::new(sub);
    let taken = tx
        .prepare_cached("SELECT 1 FROM subscriptions WHERE subscription_id = ?1")
        .and_then(|mut st| st.exists(params![row.subscription_id]))
        .map_err(db)?;
    if taken {
        return Err(StoreError::Duplicate);
    }
    let n = tx
        .prepare_cached(
            "INSERT INTO subscriptions (token_id, smp_server_id, smp_notifier_id, \
             subscription_id, smp_notifier_key, status, ntf_service_assoc, \
             smp_notifier_public_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (smp_server_id, smp_notifier_id) DO NOTHING",
        )
        .and_then(|mut st| {
            st.execute(params![
                row.token_id,
                server_id,
                row.smp_notifier_id,
                row.subscription_id,
                row.smp_notifier_key,
                row.status,
                row.ntf_service_assoc,
                row.smp_notifier_public_key
            ])
        })
        .map_err(|e| {
            // the token was checked, so a constraint here is a missing token in an import
            if is_constraint(&e) {
                StoreError::NotFound
            } else {
                db(e)
            }
        })?;
    Ok(n > 0)
}

impl Store for SqliteStore {
    fn get_token(&self, id: &NtfEntityId) -> StoreResult<Option<TokenRecord>> {
        self.get_token_where("token_id = ?1", params![id.as_bytes()])
    }

    fn find_token_registration(
        &self,
        token: &DeviceToken,
        verify_key: &AuthPublicKey,
    ) -> StoreResult<Option<TokenRecord>> {
        self.get_token_where(
            "push_provider = ?1 AND push_provider_token = ?2 AND verify_key = ?3",
            params![
                token.provider().name(),
                token.token(),
                verify_key.key().to_der()
            ],
        )
    }

    fn touch_token(&mut self, id: &NtfEntityId, day: i64) -> StoreResult<()> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET updated_at = ?1 WHERE token_id = ?2",
                    params![day, id.as_bytes()],
                )
                .map_err(db)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn add_token(&mut self, token: TokenRecord) -> StoreResult<()> {
        let r = TokenRow::new(&token);
        let mut g = self.lock();
        write(&mut g, |tx| {
            tx.prepare_cached(&format!(
                "INSERT INTO tokens ({TOKEN_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    r.token_id,
                    r.push_provider,
                    r.push_provider_token,
                    r.status,
                    r.verify_key,
                    r.dh_priv_key,
                    r.dh_secret,
                    r.reg_code,
                    r.cron_interval,
                    r.cron_sent_at,
                    r.updated_at
                ])
            })
            .map_err(dup)?;
            Ok(())
        })
    }

    fn replace_token(
        &mut self,
        id: &NtfEntityId,
        token: DeviceToken,
        status: NtfTknStatus,
        reg_code: NtfRegCode,
    ) -> StoreResult<()> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET push_provider = ?1, push_provider_token = ?2, status = ?3, \
                     reg_code = ?4 WHERE token_id = ?5",
                    params![
                        token.provider().name(),
                        token.token(),
                        rows::token_status_text(&status),
                        reg_code.as_bytes(),
                        id.as_bytes()
                    ],
                )
                .map_err(dup)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn update_token_status(&mut self, id: &NtfEntityId, status: NtfTknStatus) -> StoreResult<()> {
        let s = rows::token_status_text(&status);
        let mut g = self.lock();
        write(&mut g, |tx| {
            tx.execute(
                "UPDATE tokens SET status = ?1 WHERE token_id = ?2 AND status != ?1",
                params![s, id.as_bytes()],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn set_token_confirmed(&mut self, id: &NtfEntityId) -> StoreResult<bool> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET status = 'CONFIRMED' \
                     WHERE token_id = ?1 AND status != 'CONFIRMED' AND status != 'ACTIVE'",
                    params![id.as_bytes()],
                )
                .map_err(db)?;
            Ok(n > 0)
        })
    }

    fn set_token_active(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let device: Option<(String, Vec<u8>)> = tx
                .query_row(
                    "SELECT push_provider, push_provider_token FROM tokens WHERE token_id = ?1",
                    params![id.as_bytes()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let (pp, ppt) = device.ok_or(StoreError::NotFound)?;
            tx.execute(
                "UPDATE tokens SET status = 'ACTIVE' WHERE token_id = ?1 AND status != 'ACTIVE'",
                params![id.as_bytes()],
            )
            .map_err(db)?;
            let p = params![pp, ppt, id.as_bytes()];
            let queues = queues_where(
                tx,
                "t.push_provider = ?1 AND t.push_provider_token = ?2 AND t.token_id != ?3",
                p,
            )?;
            tx.execute(
                "DELETE FROM tokens \
                 WHERE push_provider = ?1 AND push_provider_token = ?2 AND token_id != ?3",
                p,
            )
            .map_err(db)?;
            Ok(queues)
        })
    }

    fn delete_token(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let queues = queues_where(tx, "t.token_id = ?1", params![id.as_bytes()])?;
            let n = tx
                .execute(
                    "DELETE FROM tokens WHERE token_id = ?1",
                    params![id.as_bytes()],
                )
                .map_err(db)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(queues)
            }
        })
    }

    fn update_token_cron_interval(&mut self, id: &NtfEntityId, minutes: u16) -> StoreResult<()> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET cron_interval = ?1 WHERE token_id = ?2",
                    params![minutes, id.as_bytes()],
                )
                .map_err(db)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn update_token_cron_sent_at(&mut self, id: &NtfEntityId, now: i64) -> StoreResult<()> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            tx.execute(
                "UPDATE tokens SET cron_sent_at = ?1 WHERE token_id = ?2",
                params![now, id.as_bytes()],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn periodic_tokens(&self, now: i64, unsent_is_due: bool) -> StoreResult<Vec<TokenRecord>> {
        let g = self.lock();
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens \
             WHERE status = 'ACTIVE' AND cron_interval != 0 \
               AND ((cron_sent_at + cron_interval * 60) < ?1 OR (cron_sent_at IS NULL AND ?2)) \
             ORDER BY token_id"
        );
        let mut st = g.conn.prepare_cached(&sql).map_err(db)?;
        let rows = st
            .query_map(params![now, unsent_is_due], |r| token_row(r, 0))
            .map_err(db)?;
        rows.map(|r| r.map_err(db).and_then(TokenRow::into_record))
            .collect()
    }

    fn get_subscription(
        &self,
        id: &NtfEntityId,
    ) -> StoreResult<Option<(TokenRecord, SubscriptionRecord)>> {
        let g = self.lock();
        let sql = format!(
            "SELECT {T_TOKEN_COLUMNS}, {SUB_COLUMNS}, {SERVER_COLUMNS} FROM subscriptions s \
             JOIN tokens t ON t.token_id = s.token_id \
             JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
             WHERE s.subscription_id = ?1"
        );
        let row = g
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_row(params![id.as_bytes()], |r| {
                    Ok((token_row(r, 0)?, sub_row(r, 11)?, server_row(r, 11 + SUB_COLUMN_COUNT)?))
                })
                .optional()
            })
            .map_err(db)?;
        match row {
            None => Ok(None),
            Some((t, s, p)) => Ok(Some((t.into_record()?, s.into_record(p.to_server()?)?))),
        }
    }

    fn subscription_by_queue(
        &self,
        queue: &SmpQueueNtf,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let mut g = self.lock();
        let Some(srv) = g.server_id(&queue.server)? else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {SUB_COLUMNS} FROM subscriptions s \
             WHERE s.smp_server_id = ?1 AND s.smp_notifier_id = ?2"
        );
        let row = g
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_row(params![srv, queue.notifier_id()], |r| sub_row(r, 0))
                    .optional()
            })
            .map_err(db)?;
        row.map(|s| s.into_record(queue.server.clone())).transpose()
    }

    fn add_subscription(&mut self, sub: SubscriptionRecord) -> StoreResult<bool> {
        let mut g = self.lock();
        let cached = g.servers.get(&sub.queue.server).copied();
        let (added, srv) = write(&mut g, |tx| {
            let token = tx
                .prepare_cached("SELECT 1 FROM tokens WHERE token_id = ?1")
                .and_then(|mut st| st.exists(params![sub.token_id.as_bytes()]))
                .map_err(db)?;
            if !token {
                return Err(StoreError::NotFound);
            }
            let srv = match cached {
                Some(id) => id,
                None => upsert_server(tx, &sub.queue.server)?,
            };
            Ok((insert_sub(tx, srv, &sub)?, srv))
        })?;
        g.servers.insert(sub.queue.server, srv);
        Ok(added)
    }

    fn delete_subscription(&mut self, id: &NtfEntityId) -> StoreResult<()> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let n = tx
                .execute(
                    "DELETE FROM subscriptions WHERE subscription_id = ?1",
                    params![id.as_bytes()],
                )
                .map_err(db)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn set_subscription_statuses(
        &mut self,
        server: &SmpServer,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<usize> {
        let mut g = self.lock();
        let Some(srv) = g.server_id(server)? else {
            return Ok(0);
        };
        write(&mut g, |tx| {
            let mut st = tx
                .prepare_cached(
                    "UPDATE subscriptions SET status = ?1 \
                     WHERE smp_server_id = ?2 AND smp_notifier_id = ?3 AND status != ?1",
                )
                .map_err(db)?;
            let mut n = 0;
            for (nid, status) in updates {
                n += st
                    .execute(params![rows::sub_status_text(status), srv, nid])
                    .map_err(db)?;
            }
            Ok(n)
        })
    }

    fn used_smp_servers(&self) -> StoreResult<Vec<SmpServer>> {
        let mut g = self.lock();
        let sql = format!(
            "SELECT p.smp_server_id, {SERVER_COLUMNS} FROM smp_servers p \
             WHERE EXISTS (SELECT 1 FROM subscriptions s \
               WHERE s.smp_server_id = p.smp_server_id AND s.status IN {SHOULD_SUBSCRIBE_SQL}) \
             ORDER BY p.smp_server_id"
        );
        let found: Vec<(i64, ServerRow)> = g
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, server_row(r, 1)?)))
                    .and_then(|rows| rows.collect())
            })
            .map_err(db)?;
        let mut out = Vec::with_capacity(found.len());
        for (id, row) in found {
            let srv = row.to_server()?;
            g.servers.insert(srv.clone(), id);
            out.push(srv);
        }
        Ok(out)
    }

    fn take_server_subscriptions(
        &mut self,
        server: &SmpServer,
        after: Option<&NtfEntityId>,
        limit_n: usize,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        let mut g = self.lock();
        let Some(srv) = g.server_id(server)? else {
            return Ok(Vec::new());
        };
        write(&mut g, |tx| {
            let base = format!(
                "SELECT {SUB_COLUMNS} FROM subscriptions s \
                 INDEXED BY idx_subscriptions_smp_server_id_subscription_id \
                 WHERE s.smp_server_id = ?1 AND NOT s.ntf_service_assoc \
                   AND s.status IN {SHOULD_SUBSCRIBE_SQL}"
            );
            let found: Vec<SubRow> = match after {
                None => tx
                    .prepare_cached(&format!("{base} ORDER BY s.subscription_id LIMIT ?2"))
                    .and_then(|mut st| {
                        st.query_map(params![srv, limit(limit_n)], |r| sub_row(r, 0))
                            .and_then(|rows| rows.collect())
                    }),
                Some(a) => tx
                    .prepare_cached(&format!(
                        "{base} AND s.subscription_id > ?3 ORDER BY s.subscription_id LIMIT ?2"
                    ))
                    .and_then(|mut st| {
                        st.query_map(params![srv, limit(limit_n), a.as_bytes()], |r| {
                            sub_row(r, 0)
                        })
                        .and_then(|rows| rows.collect())
                    }),
            }
            .map_err(db)?;
            // the rows taken are exactly those matching the query between the first and the
            // last id taken (same filters, same order, same transaction): one range update
            if let (Some(first), Some(last)) = (found.first(), found.last()) {
                tx.prepare_cached(&format!(
                    "UPDATE subscriptions SET status = 'PENDING' \
                     WHERE smp_server_id = ?1 AND NOT ntf_service_assoc \
                       AND status IN {SHOULD_SUBSCRIBE_SQL} AND status != 'PENDING' \
                       AND subscription_id >= ?2 AND subscription_id <= ?3"
                ))
                .and_then(|mut st| st.execute(params![srv, first.subscription_id, last.subscription_id]))
                .map_err(db)?;
            }
            let mut out = Vec::with_capacity(found.len());
            for row in found {
                let mut rec = row.into_record(server.clone())?;
                rec.status = NtfSubStatus::Pending;
                out.push(rec);
            }
            Ok(out)
        })
    }

    fn add_last_notification(
        &mut self,
        token_id: &NtfEntityId,
        subscription_id: &NtfEntityId,
        ntf: PnMessageData,
        max: usize,
    ) -> StoreResult<Vec<PnMessageData>> {
        let mut g = self.lock();
        write(&mut g, |tx| {
            let exists = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM tokens WHERE token_id = ?1) \
                       AND EXISTS (SELECT 1 FROM subscriptions WHERE subscription_id = ?2)",
                )
                .and_then(|mut st| {
                    st.query_row(
                        params![token_id.as_bytes(), subscription_id.as_bytes()],
                        |r| r.get::<_, bool>(0),
                    )
                })
                .map_err(db)?;
            if !exists {
                return Err(StoreError::NotFound);
            }
            tx.prepare_cached(
                "DELETE FROM last_notifications WHERE token_id = ?1 AND subscription_id = ?2",
            )
            .and_then(|mut st| st.execute(params![token_id.as_bytes(), subscription_id.as_bytes()]))
            .map_err(db)?;
            tx.prepare_cached(
                "INSERT INTO last_notifications \
                 (token_id, subscription_id, sent_at, nmsg_nonce, nmsg_data) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    token_id.as_bytes(),
                    subscription_id.as_bytes(),
                    ntf.ts,
                    &ntf.nonce[..],
                    ntf.enc_meta()
                ])
            })
            .map_err(db)?;
            let sql = format!(
                "SELECT n.token_ntf_id, n.sent_at, n.nmsg_nonce, n.nmsg_data, \
                   s.smp_notifier_id, {SERVER_COLUMNS} \
                 FROM last_notifications n \
                 JOIN subscriptions s ON s.subscription_id = n.subscription_id \
                 JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
                 WHERE n.token_id = ?1 \
                 ORDER BY n.sent_at DESC, n.token_ntf_id DESC"
            );
            type NtfRow = (i64, i64, Vec<u8>, Vec<u8>, Vec<u8>, ServerRow);
            let all: Vec<NtfRow> = tx
                .prepare_cached(&sql)
                .and_then(|mut st| {
                    st.query_map(params![token_id.as_bytes()], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            server_row(r, 5)?,
                        ))
                    })
                    .and_then(|rows| rows.collect())
                })
                .map_err(db)?;
            let keep = max.max(1);
            let mut del = tx
                .prepare_cached("DELETE FROM last_notifications WHERE token_ntf_id = ?1")
                .map_err(db)?;
            for (id, ..) in all.iter().skip(keep) {
                del.execute(params![id]).map_err(db)?;
            }
            let mut out = Vec::with_capacity(keep.min(all.len()));
            for (_, sent_at, nonce, data, nid, srv) in all.into_iter().take(keep).rev() {
                let q = rows::queue(srv.to_server()?, nid)?;
                out.push(rows::last_notification(q, sent_at, &nonce, data)?);
            }
            Ok(out)
        })
    }
}
