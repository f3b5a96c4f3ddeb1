//! The durable [`QueueStore`]: one SQLite file (`smp-store.db` in the relay's directory) holding
//! the queues, their messages and the notifications kept for notifier ids without a
//! subscriber, so a restarted relay has everything an acknowledged command stored.
//!
//! Reads are served from an in-memory copy ([`MemQueueStore`], loaded on open); every mutation
//! is first committed to the database in one `BEGIN IMMEDIATE` transaction and only then
//! applied to the copy, so the relay answers a command after its change is on disk, and a
//! change that failed to commit (`INTERNAL`) is not applied at all. The database settings are
//! the notification server's ([`SqliteConfig`]: WAL, `synchronous=FULL` by default).
//!
//! The tables follow the reference's PostgreSQL queue store (`QueueStore/Postgres/Migrations.hs`)
//! in SQLite types, plus the kept notifications (the reference keeps them in memory and saves
//! them on shutdown):
//!
//! ```text
//! msg_queues         recipient_id (key), recipient_keys (1-byte count, then each key as the
//!                    protocol encodes it), rcv_dh_secret, sender_id (unique), sender_key (SPKI
//!                    DER), queue_mode ("M" / "C"), link_id (unique), fixed_data, user_data,
//!                    notifier_id (unique), notifier_key (SPKI DER), rcv_ntf_dh_secret,
//!                    status ("active" / "off")
//! messages           message_id (order), recipient_id -> msg_queues (cascade), msg_id, msg_ts,
//!                    msg_quota (the quota marker), msg_ntf_flag, msg_body
//! msg_notifications  ntf_id (order), notifier_id, ntf_ts (Unix seconds), ntf_nonce, ntf_enc_meta
//! services           service_id (key), service_role ("M" / "N" / "P"), service_cert (the chain:
//!                    1-byte count, then each certificate as 2-byte length and DER),
//!                    service_cert_hash (unique), created_at (Unix seconds)
//! msg_queues.ntf_service_id -> services (the notifier's service association; migration 2)
//! ```
//!
//! Migrations are applied on open and recorded in `schema_version`, as in the notification
//! server's store.

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, ErrorCode, Row, Transaction, TransactionBehavior};
use smp_proto::coding::{put_list, Decode, Encode, Reader};
use smp_proto::command::{Party, QueueLinkData, QueueMode};
use smp_proto::error_type::ErrorType;
use smp_proto::keys::{AuthPublicKey, PublicKey};
use smp_proto::message::MsgFlags;

use super::store::{
    MemQueueStore, MsgNtf, NtfCreds, QueueId, QueueRec, QueueStatus, QueueStore, ServiceRec,
    StoredMessage, WriteOutcome,
};
use crate::store::{Migration, SqliteConfig, Synchronous};
use smp_proto::handshake::ServiceRole;

/// The database file name in a relay directory.
pub const DB_FILE: &str = "smp-store.db";

/// The schema migrations.
const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "rs_20250901_smp_queues",
        sql: "
CREATE TABLE msg_queues(
  recipient_id BLOB NOT NULL,
  recipient_keys BLOB NOT NULL,
  rcv_dh_secret BLOB NOT NULL,
  sender_id BLOB NOT NULL,
  sender_key BLOB,
  queue_mode TEXT,
  link_id BLOB,
  fixed_data BLOB,
  user_data BLOB,
  notifier_id BLOB,
  notifier_key BLOB,
  rcv_ntf_dh_secret BLOB,
  status TEXT NOT NULL,
  PRIMARY KEY (recipient_id)
);
CREATE UNIQUE INDEX idx_msg_queues_sender_id ON msg_queues(sender_id);
CREATE UNIQUE INDEX idx_msg_queues_notifier_id ON msg_queues(notifier_id);
CREATE UNIQUE INDEX idx_msg_queues_link_id ON msg_queues(link_id);
CREATE TABLE messages(
  message_id INTEGER PRIMARY KEY AUTOINCREMENT,
  recipient_id BLOB NOT NULL REFERENCES msg_queues ON DELETE CASCADE ON UPDATE RESTRICT,
  msg_id BLOB NOT NULL,
  msg_ts INTEGER NOT NULL,
  msg_quota INTEGER NOT NULL,
  msg_ntf_flag INTEGER NOT NULL,
  msg_body BLOB NOT NULL
);
CREATE INDEX idx_messages_recipient_id_message_id ON messages(recipient_id, message_id);
CREATE TABLE msg_notifications(
  ntf_id INTEGER PRIMARY KEY AUTOINCREMENT,
  notifier_id BLOB NOT NULL,
  ntf_ts INTEGER NOT NULL,
  ntf_nonce BLOB NOT NULL,
  ntf_enc_meta BLOB NOT NULL
);
CREATE INDEX idx_msg_notifications_notifier_id ON msg_notifications(notifier_id, ntf_id);
CREATE INDEX idx_msg_notifications_ntf_ts ON msg_notifications(ntf_ts);
",
    },
    Migration {
        // the reference's services table and ntf_service_id (QueueStore/Postgres/Migrations.hs)
        name: "rs_20251206_smp_services",
        sql: "
CREATE TABLE services(
  service_id BLOB NOT NULL,
  service_role TEXT NOT NULL,
  service_cert BLOB NOT NULL,
  service_cert_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (service_id)
);
CREATE UNIQUE INDEX idx_services_service_cert_hash ON services(service_cert_hash);
ALTER TABLE msg_queues ADD COLUMN ntf_service_id BLOB
  REFERENCES services(service_id) ON DELETE SET NULL ON UPDATE RESTRICT;
CREATE INDEX idx_msg_queues_ntf_service_id ON msg_queues(ntf_service_id);
",
    },
];

/// Why a [`SqliteQueueStore`] could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpStoreError(String);

impl fmt::Display for SmpStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "smp store: {}", self.0)
    }
}

impl std::error::Error for SmpStoreError {}

fn open_err(e: rusqlite::Error) -> SmpStoreError {
    SmpStoreError(format!("sqlite: {e}"))
}

/// A failed commit: logged, answered `INTERNAL`.
fn internal(e: &rusqlite::Error) -> ErrorType {
    tracing::error!(error = %e, "smp store: write failed");
    ErrorType::Internal
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits (synced per the `synchronous`
/// setting); rolls back on an error.
fn write<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let v = f(&tx)?;
    tx.commit()?;
    Ok(v)
}

/// Opens `path` in WAL mode with `config` and applies `migrations` (recorded in
/// `schema_version`).
fn open_connection(
    path: &Path,
    config: &SqliteConfig,
    migrations: &[Migration],
) -> Result<Connection, SmpStoreError> {
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(config.busy_timeout).map_err(open_err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SmpStoreError(format!(
            "WAL mode not available (journal_mode={mode})"
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
    .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version(
           version INTEGER PRIMARY KEY,
           name TEXT NOT NULL,
           applied_at INTEGER NOT NULL
         );",
    )
    .map_err(open_err)?;
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(open_err)?;
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    if current > known {
        return Err(SmpStoreError(format!(
            "database schema version {current} is newer than this relay's {known}"
        )));
    }
    for (version, m) in (1..).zip(migrations) {
        if version <= current {
            continue;
        }
        write(&mut conn, |tx| {
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO schema_version(version, name, applied_at) VALUES (?1, ?2, unixepoch())",
                params![version, m.name],
            )
        })
        .map_err(|e| SmpStoreError(format!("migration {}: {e}", m.name)))?;
    }
    Ok(conn)
}

const QUEUE_COLUMNS: &str = "recipient_id, recipient_keys, rcv_dh_secret, sender_id, sender_key, \
    queue_mode, link_id, fixed_data, user_data, notifier_id, notifier_key, rcv_ntf_dh_secret, status, \
    ntf_service_id";

fn status_text(s: QueueStatus) -> &'static str {
    match s {
        QueueStatus::Active => "active",
        QueueStatus::Off => "off",
    }
}

fn mode_text(m: QueueMode) -> &'static str {
    match m {
        QueueMode::Messaging => "M",
        QueueMode::Contact => "C",
    }
}

fn encode_keys(keys: &[AuthPublicKey]) -> Vec<u8> {
    let mut out = Vec::new();
    put_list(&mut out, keys, |o, k| k.encode(o));
    out
}

fn auth_key_der(k: &AuthPublicKey) -> Vec<u8> {
    k.key().to_der()
}

/// A stored row that does not decode (a damaged or foreign database).
fn bad(what: &str, rcv_id: &[u8]) -> SmpStoreError {
    SmpStoreError(format!("bad {what} in the row of queue {rcv_id:02x?}"))
}

fn auth_key_from_der(
    der: &[u8],
    what: &str,
    rcv_id: &[u8],
) -> Result<AuthPublicKey, SmpStoreError> {
    PublicKey::from_der(der)
        .and_then(AuthPublicKey::new)
        .ok_or_else(|| bad(what, rcv_id))
}

fn secret(v: &[u8], what: &str, rcv_id: &[u8]) -> Result<[u8; 32], SmpStoreError> {
    v.try_into().map_err(|_| bad(what, rcv_id))
}

/// The columns of a `msg_queues` row, as stored.
struct QueueRow {
    recipient_id: Vec<u8>,
    recipient_keys: Vec<u8>,
    rcv_dh_secret: Vec<u8>,
    sender_id: Vec<u8>,
    sender_key: Option<Vec<u8>>,
    queue_mode: Option<String>,
    link_id: Option<Vec<u8>>,
    fixed_data: Option<Vec<u8>>,
    user_data: Option<Vec<u8>>,
    notifier_id: Option<Vec<u8>>,
    notifier_key: Option<Vec<u8>>,
    rcv_ntf_dh_secret: Option<Vec<u8>>,
    status: String,
    ntf_service_id: Option<Vec<u8>>,
}

impl QueueRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            recipient_id: r.get(0)?,
            recipient_keys: r.get(1)?,
            rcv_dh_secret: r.get(2)?,
            sender_id: r.get(3)?,
            sender_key: r.get(4)?,
            queue_mode: r.get(5)?,
            link_id: r.get(6)?,
            fixed_data: r.get(7)?,
            user_data: r.get(8)?,
            notifier_id: r.get(9)?,
            notifier_key: r.get(10)?,
            rcv_ntf_dh_secret: r.get(11)?,
            status: r.get(12)?,
            ntf_service_id: r.get(13)?,
        })
    }

    fn into_rec(self) -> Result<(QueueId, QueueRec), SmpStoreError> {
        let rid = self.recipient_id;
        let mut reader = Reader::new(&self.recipient_keys);
        let recipient_keys = reader
            .non_empty_list("recipient keys", AuthPublicKey::decode)
            .and_then(|ks| reader.finish().map(|()| ks))
            .map_err(|_| bad("recipient_keys", &rid))?;
        let sender_key = self
            .sender_key
            .map(|k| auth_key_from_der(&k, "sender_key", &rid))
            .transpose()?;
        let queue_mode = match self.queue_mode.as_deref() {
            None => None,
            Some("M") => Some(QueueMode::Messaging),
            Some("C") => Some(QueueMode::Contact),
            Some(_) => return Err(bad("queue_mode", &rid)),
        };
        let link = match (self.link_id, self.fixed_data, self.user_data) {
            (None, None, None) => None,
            (Some(l), Some(fixed), Some(user)) => Some((l, QueueLinkData { fixed, user })),
            _ => return Err(bad("link columns", &rid)),
        };
        let notifier = match (
            self.notifier_id,
            self.notifier_key,
            self.rcv_ntf_dh_secret,
            self.ntf_service_id,
        ) {
            (None, None, None, None) => None,
            (Some(notifier_id), Some(k), Some(s), ntf_service_id) => Some(NtfCreds {
                notifier_id,
                notifier_key: auth_key_from_der(&k, "notifier_key", &rid)?,
                rcv_ntf_dh_secret: secret(&s, "rcv_ntf_dh_secret", &rid)?,
                ntf_service_id,
            }),
            _ => return Err(bad("notifier columns", &rid)),
        };
        let status = match self.status.as_str() {
            "active" => QueueStatus::Active,
            "off" => QueueStatus::Off,
            _ => return Err(bad("status", &rid)),
        };
        let rec = QueueRec {
            sender_id: self.sender_id,
            recipient_keys,
            rcv_dh_secret: secret(&self.rcv_dh_secret, "rcv_dh_secret", &rid)?,
            sender_key,
            queue_mode,
            link,
            notifier,
            status,
        };
        Ok((rid, rec))
    }
}

/// The durable [`QueueStore`] (see the module documentation).
pub struct SqliteQueueStore {
    conn: Connection,
    mem: MemQueueStore,
    path: PathBuf,
}

impl fmt::Debug for SqliteQueueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteQueueStore")
            .field("path", &self.path)
            .field("queues", &self.mem.len())
            .finish_non_exhaustive()
    }
}

impl SqliteQueueStore {
    /// Opens (creating when missing) the database at `path` with the default settings
    /// (WAL, `synchronous=FULL`), applies the migrations and loads the queues, messages and
    /// kept notifications.
    ///
    /// # Errors
    /// The file cannot be opened, is not a database of this schema, has a newer schema, or
    /// holds a row that does not decode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SmpStoreError> {
        Self::open_with(path, &SqliteConfig::default())
    }

    /// Opens the database at `path` with `config` (see [`SqliteQueueStore::open`]).
    ///
    /// # Errors
    /// As [`SqliteQueueStore::open`].
    pub fn open_with(path: impl AsRef<Path>, config: &SqliteConfig) -> Result<Self, SmpStoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = open_connection(&path, config, MIGRATIONS)?;
        let mem = load(&conn)?;
        Ok(Self { conn, mem, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rec(&self, rcv_id: &[u8]) -> Result<&QueueRec, ErrorType> {
        self.mem.queue(rcv_id).ok_or(ErrorType::Auth)
    }
}

/// Reads the whole database into a [`MemQueueStore`].
fn load(conn: &Connection) -> Result<MemQueueStore, SmpStoreError> {
    let mut mem = MemQueueStore::new();
    let mut st = conn
        .prepare(
            "SELECT service_id, service_role, service_cert, service_cert_hash, created_at \
             FROM services",
        )
        .map_err(open_err)?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(open_err)?;
    for row in rows {
        let (service_id, role, cert, hash, created_at) = row.map_err(open_err)?;
        let role = match role.as_bytes() {
            [b] => ServiceRole::from_tag(*b),
            _ => None,
        }
        .ok_or_else(|| bad("service_role", &service_id))?;
        let cert_hash = hash
            .try_into()
            .map_err(|_| bad("service_cert_hash", &service_id))?;
        let cert_chain = decode_chain(&cert).ok_or_else(|| bad("service_cert", &service_id))?;
        let rec = ServiceRec {
            service_id: service_id.clone(),
            role,
            cert_chain,
            cert_hash,
            created_at,
        };
        mem.get_create_service(rec)
            .map_err(|e| SmpStoreError(format!("service {service_id:02x?}: {e:?}")))?;
    }
    let mut st = conn
        .prepare(&format!("SELECT {QUEUE_COLUMNS} FROM msg_queues"))
        .map_err(open_err)?;
    let rows = st.query_map([], QueueRow::read).map_err(open_err)?;
    for row in rows {
        let (rid, rec) = row.map_err(open_err)?.into_rec()?;
        mem.add_queue(&rid, rec)
            .map_err(|e| SmpStoreError(format!("queue {rid:02x?}: {e:?}")))?;
    }
    let mut st = conn
        .prepare(
            "SELECT recipient_id, msg_id, msg_ts, msg_quota, msg_ntf_flag, msg_body \
             FROM messages ORDER BY message_id",
        )
        .map_err(open_err)?;
    let rows = st
        .query_map([], |r| {
            let rid: Vec<u8> = r.get(0)?;
            let msg_id: Vec<u8> = r.get(1)?;
            let msg_ts: i64 = r.get(2)?;
            let msg = if r.get::<_, bool>(3)? {
                StoredMessage::Quota { msg_id, msg_ts }
            } else {
                StoredMessage::Message {
                    msg_id,
                    msg_ts,
                    msg_flags: MsgFlags {
                        notification: r.get(4)?,
                    },
                    body: r.get(5)?,
                }
            };
            Ok((rid, msg))
        })
        .map_err(open_err)?;
    for row in rows {
        let (rid, msg) = row.map_err(open_err)?;
        mem.push_loaded(&rid, msg)
            .map_err(|_| bad("message (no such queue)", &rid))?;
    }
    let mut st = conn
        .prepare(
            "SELECT notifier_id, ntf_ts, ntf_nonce, ntf_enc_meta FROM msg_notifications \
             ORDER BY ntf_id",
        )
        .map_err(open_err)?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .map_err(open_err)?;
    for row in rows {
        let (nid, ts, nonce, enc_meta) = row.map_err(open_err)?;
        let nonce = nonce
            .try_into()
            .map_err(|_| SmpStoreError(format!("bad nonce of a notification for {nid:02x?}")))?;
        let _ = mem.store_ntf(
            &nid,
            MsgNtf {
                ts,
                nonce,
                enc_meta,
            },
        );
    }
    Ok(mem)
}

/// The `service_cert` column: 1-byte count, then each certificate as 2-byte length and DER.
fn encode_chain(chain: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    put_list(&mut v, chain, |out, c| smp_proto::coding::put_large(out, c));
    v
}

fn decode_chain(b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut r = Reader::new(b);
    let chain = r
        .list("service certificate", |r| {
            r.large_bytes("certificate").map(<[u8]>::to_vec)
        })
        .ok()?;
    r.finish().ok()?;
    Some(chain)
}

fn role_text(role: ServiceRole) -> String {
    char::from(role.tag()).to_string()
}

fn delete_ntfs(tx: &Transaction<'_>, old: Option<&NtfCreds>) -> rusqlite::Result<()> {
    if let Some(n) = old {
        tx.prepare_cached("DELETE FROM msg_notifications WHERE notifier_id = ?1")?
            .execute(params![n.notifier_id])?;
    }
    Ok(())
}

impl QueueStore for SqliteQueueStore {
    fn add_queue(&mut self, rcv_id: &[u8], rec: QueueRec) -> Result<(), ErrorType> {
        if self.mem.is_duplicate(rcv_id, &rec) {
            return Err(ErrorType::Duplicate);
        }
        let (link_id, link_data) = match &rec.link {
            Some((l, d)) => (Some(l), Some(d)),
            None => (None, None),
        };
        let n = rec.notifier.as_ref();
        let r = write(&mut self.conn, |tx| {
            tx.prepare_cached(&format!(
                "INSERT INTO msg_queues({QUEUE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ))?
            .execute(params![
                rcv_id,
                encode_keys(&rec.recipient_keys),
                rec.rcv_dh_secret,
                rec.sender_id,
                rec.sender_key.as_ref().map(auth_key_der),
                rec.queue_mode.map(mode_text),
                link_id,
                link_data.map(|d| &d.fixed),
                link_data.map(|d| &d.user),
                n.map(|n| &n.notifier_id),
                n.map(|n| auth_key_der(&n.notifier_key)),
                n.map(|n| n.rcv_ntf_dh_secret),
                status_text(rec.status),
                n.and_then(|n| n.ntf_service_id.as_ref()),
            ])
        });
        match r {
            Ok(_) => self.mem.add_queue(rcv_id, rec),
            Err(e) if is_constraint(&e) => Err(ErrorType::Duplicate),
            Err(e) => Err(internal(&e)),
        }
    }

    fn find(&self, party: Party, id: &[u8]) -> Option<QueueId> {
        self.mem.find(party, id)
    }

    fn queue(&self, rcv_id: &[u8]) -> Option<&QueueRec> {
        self.mem.queue(rcv_id)
    }

    fn secure_queue(&mut self, rcv_id: &[u8], key: AuthPublicKey) -> Result<(), ErrorType> {
        match &self.rec(rcv_id)?.sender_key {
            Some(k) if *k == key => return Ok(()),
            Some(_) => return Err(ErrorType::Auth),
            None => {}
        }
        write(&mut self.conn, |tx| {
            tx.prepare_cached("UPDATE msg_queues SET sender_key = ?1 WHERE recipient_id = ?2")?
                .execute(params![auth_key_der(&key), rcv_id])
        })
        .map_err(|e| internal(&e))?;
        self.mem.secure_queue(rcv_id, key)
    }

    fn add_notifier(
        &mut self,
        rcv_id: &[u8],
        creds: NtfCreds,
    ) -> Result<Option<NtfCreds>, ErrorType> {
        let old = self.rec(rcv_id)?.notifier.clone();
        if self.mem.find(Party::Notifier, &creds.notifier_id).is_some() {
            return Err(ErrorType::Duplicate);
        }
        let r = write(&mut self.conn, |tx| {
            delete_ntfs(tx, old.as_ref())?;
            tx.prepare_cached(
                "UPDATE msg_queues SET notifier_id = ?1, notifier_key = ?2, rcv_ntf_dh_secret = ?3, \
                 ntf_service_id = ?4 WHERE recipient_id = ?5",
            )?
            .execute(params![
                creds.notifier_id,
                auth_key_der(&creds.notifier_key),
                creds.rcv_ntf_dh_secret,
                creds.ntf_service_id,
                rcv_id
            ])
        });
        match r {
            Ok(_) => self.mem.add_notifier(rcv_id, creds),
            Err(e) if is_constraint(&e) => Err(ErrorType::Duplicate),
            Err(e) => Err(internal(&e)),
        }
    }

    fn delete_notifier(&mut self, rcv_id: &[u8]) -> Result<Option<NtfCreds>, ErrorType> {
        let Some(old) = self.rec(rcv_id)?.notifier.clone() else {
            return Ok(None);
        };
        write(&mut self.conn, |tx| {
            delete_ntfs(tx, Some(&old))?;
            tx.prepare_cached(
                "UPDATE msg_queues SET notifier_id = NULL, notifier_key = NULL, \
                 rcv_ntf_dh_secret = NULL, ntf_service_id = NULL WHERE recipient_id = ?1",
            )?
            .execute(params![rcv_id])
        })
        .map_err(|e| internal(&e))?;
        self.mem.delete_notifier(rcv_id)
    }

    fn delete_link(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType> {
        if self.rec(rcv_id)?.link.is_none() {
            return Ok(());
        }
        write(&mut self.conn, |tx| {
            tx.prepare_cached(
                "UPDATE msg_queues SET link_id = NULL, fixed_data = NULL, user_data = NULL \
                 WHERE recipient_id = ?1",
            )?
            .execute(params![rcv_id])
        })
        .map_err(|e| internal(&e))?;
        self.mem.delete_link(rcv_id)
    }

    fn suspend_queue(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType> {
        if self.rec(rcv_id)?.status == QueueStatus::Off {
            return Ok(());
        }
        write(&mut self.conn, |tx| {
            tx.prepare_cached("UPDATE msg_queues SET status = ?1 WHERE recipient_id = ?2")?
                .execute(params![status_text(QueueStatus::Off), rcv_id])
        })
        .map_err(|e| internal(&e))?;
        self.mem.suspend_queue(rcv_id)
    }

    fn delete_queue(&mut self, rcv_id: &[u8]) -> Result<QueueRec, ErrorType> {
        let notifier = self.rec(rcv_id)?.notifier.clone();
        write(&mut self.conn, |tx| {
            delete_ntfs(tx, notifier.as_ref())?;
            tx.prepare_cached("DELETE FROM messages WHERE recipient_id = ?1")?
                .execute(params![rcv_id])?;
            tx.prepare_cached("DELETE FROM msg_queues WHERE recipient_id = ?1")?
                .execute(params![rcv_id])
        })
        .map_err(|e| internal(&e))?;
        self.mem.delete_queue(rcv_id)
    }

    fn write_msg(
        &mut self,
        rcv_id: &[u8],
        msg: StoredMessage,
        quota: usize,
    ) -> Result<Option<(StoredMessage, bool)>, ErrorType> {
        let msg_id = msg.msg_id();
        let row: (i64, bool, bool, &[u8]) = match self.mem.write_outcome(rcv_id, quota)? {
            WriteOutcome::Refused => return Ok(None),
            WriteOutcome::Stored(_) => match &msg {
                StoredMessage::Message {
                    msg_ts,
                    msg_flags,
                    body,
                    ..
                } => (*msg_ts, false, msg_flags.notification, body),
                StoredMessage::Quota { msg_ts, .. } => (*msg_ts, true, false, &[]),
            },
            WriteOutcome::QuotaMarker => (msg.msg_ts(), true, false, &[]),
        };
        write(&mut self.conn, |tx| {
            tx.prepare_cached(
                "INSERT INTO messages(recipient_id, msg_id, msg_ts, msg_quota, msg_ntf_flag, msg_body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![rcv_id, msg_id, row.0, row.1, row.2, row.3])
        })
        .map_err(|e| internal(&e))?;
        self.mem.write_msg(rcv_id, msg, quota)
    }

    fn peek_msg(&self, rcv_id: &[u8]) -> Option<&StoredMessage> {
        self.mem.peek_msg(rcv_id)
    }

    fn del_msg(&mut self, rcv_id: &[u8], msg_id: &[u8]) -> Option<StoredMessage> {
        if self.mem.peek_msg(rcv_id)?.msg_id() != msg_id {
            return None;
        }
        let r = write(&mut self.conn, |tx| {
            tx.prepare_cached(
                "DELETE FROM messages WHERE message_id = \
                 (SELECT min(message_id) FROM messages WHERE recipient_id = ?1) AND msg_id = ?2",
            )?
            .execute(params![rcv_id, msg_id])
        });
        match r {
            Ok(_) => self.mem.del_msg(rcv_id, msg_id),
            Err(e) => {
                // the message stays, in the database and in memory: it is delivered again
                internal(&e);
                None
            }
        }
    }

    fn queue_count(&self) -> usize {
        self.mem.len()
    }

    fn store_ntf(&mut self, notifier_id: &[u8], ntf: MsgNtf) -> Result<(), ErrorType> {
        write(&mut self.conn, |tx| {
            tx.prepare_cached(
                "INSERT INTO msg_notifications(notifier_id, ntf_ts, ntf_nonce, ntf_enc_meta) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![notifier_id, ntf.ts, ntf.nonce, ntf.enc_meta])
        })
        .map_err(|e| internal(&e))?;
        self.mem.store_ntf(notifier_id, ntf)
    }

    fn take_ntfs(&mut self, notifier_id: &[u8]) -> Vec<MsgNtf> {
        if !self.mem.has_ntfs(notifier_id) {
            return Vec::new();
        }
        let r = write(&mut self.conn, |tx| {
            tx.prepare_cached("DELETE FROM msg_notifications WHERE notifier_id = ?1")?
                .execute(params![notifier_id])
        });
        match r {
            Ok(_) => self.mem.take_ntfs(notifier_id),
            Err(e) => {
                // kept for the next NSUB
                internal(&e);
                Vec::new()
            }
        }
    }

    fn expire_ntfs(&mut self, old: i64) -> usize {
        if self.mem.count_expired_ntfs(old) == 0 {
            return 0;
        }
        let r = write(&mut self.conn, |tx| {
            tx.prepare_cached("DELETE FROM msg_notifications WHERE ntf_ts < ?1")?
                .execute(params![old])
        });
        match r {
            Ok(_) => self.mem.expire_ntfs(old),
            Err(e) => {
                internal(&e);
                0
            }
        }
    }

    fn ntf_count(&self) -> usize {
        self.mem.ntf_count()
    }

    fn get_create_service(&mut self, rec: ServiceRec) -> Result<QueueId, ErrorType> {
        if let Some(id) = self.mem.find_service(&rec)? {
            return Ok(id);
        }
        let r = write(&mut self.conn, |tx| {
            tx.prepare_cached(
                "INSERT INTO services(service_id, service_role, service_cert, service_cert_hash, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                rec.service_id,
                role_text(rec.role),
                encode_chain(&rec.cert_chain),
                rec.cert_hash,
                rec.created_at
            ])
        });
        match r {
            Ok(_) => self.mem.get_create_service(rec),
            Err(e) if is_constraint(&e) => Err(ErrorType::Duplicate),
            Err(e) => Err(internal(&e)),
        }
    }

    fn set_ntf_service(
        &mut self,
        rcv_id: &[u8],
        service_id: Option<&[u8]>,
    ) -> Result<(), ErrorType> {
        let n = self.rec(rcv_id)?.notifier.as_ref().ok_or(ErrorType::Auth)?;
        if n.ntf_service_id.as_deref() == service_id {
            return Ok(());
        }
        write(&mut self.conn, |tx| {
            tx.prepare_cached("UPDATE msg_queues SET ntf_service_id = ?1 WHERE recipient_id = ?2")?
                .execute(params![service_id, rcv_id])
        })
        .map_err(|e| internal(&e))?;
        self.mem.set_ntf_service(rcv_id, service_id)
    }

    fn ntf_service_count(&self, service_id: &[u8]) -> i64 {
        self.mem.ntf_service_count(service_id)
    }

    fn kept_ntf_notifiers(&self) -> Vec<QueueId> {
        self.mem.kept_ntf_notifiers()
    }
}

#[cfg(test)]
mod tests {
    //! The same behaviour suite on [`MemQueueStore`] and [`SqliteQueueStore`], then what the
    //! SQLite store alone promises: a reopened store holds everything, a failed commit changes
    //! nothing.

    use std::time::Duration;

    use super::*;

    fn key(n: u8) -> AuthPublicKey {
        AuthPublicKey::new(PublicKey::Ed25519([n; 32])).unwrap()
    }

    fn id(tag: u8, n: u8) -> Vec<u8> {
        vec![
            tag, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]
    }

    fn creds(n: u8) -> NtfCreds {
        NtfCreds {
            notifier_id: id(b'n', n),
            notifier_key: key(100 + n),
            rcv_ntf_dh_secret: [n; 32],
            ntf_service_id: None,
        }
    }

    fn service(n: u8, role: ServiceRole) -> ServiceRec {
        ServiceRec {
            service_id: id(b'v', n),
            role,
            cert_chain: vec![vec![n; 10], vec![n + 1; 3]],
            cert_hash: [n; 32],
            created_at: 1_700_000_000 + i64::from(n),
        }
    }

    /// Services and the notifier association (`getCreateService`, `setQueueService`,
    /// `getServiceQueueCount`): every store the same.
    fn service_behaviour<S: QueueStore>(s: &mut S) {
        let notifier = ServiceRole::Notifier;
        assert_eq!(s.get_create_service(service(1, notifier)), Ok(id(b'v', 1)));
        // the same certificate again: its id, whatever id was proposed
        let mut again = service(1, notifier);
        again.service_id = id(b'v', 9);
        assert_eq!(s.get_create_service(again), Ok(id(b'v', 1)));
        // with another role: SERVICE; a new certificate with a taken id: DUPLICATE_
        assert_eq!(
            s.get_create_service(service(1, ServiceRole::Messaging)),
            Err(ErrorType::Service)
        );
        let mut taken = service(2, notifier);
        taken.service_id = id(b'v', 1);
        assert_eq!(s.get_create_service(taken), Err(ErrorType::Duplicate));
        assert_eq!(s.get_create_service(service(2, notifier)), Ok(id(b'v', 2)));

        let (r10, r11, r12) = (id(b'r', 10), id(b'r', 11), id(b'r', 12));
        for (r, n) in [(&r10, 10), (&r11, 11), (&r12, 12)] {
            let mut q = rec(n);
            q.notifier = Some(creds(n));
            s.add_queue(r, q).unwrap();
        }
        let v1 = id(b'v', 1);
        s.set_ntf_service(&r10, Some(&v1)).unwrap();
        s.set_ntf_service(&r10, Some(&v1)).unwrap();
        s.set_ntf_service(&r11, Some(&v1)).unwrap();
        s.set_ntf_service(&r12, Some(&id(b'v', 2))).unwrap();
        assert_eq!(s.ntf_service_count(&v1), 2);
        assert_eq!(s.ntf_service_count(&id(b'v', 2)), 1);
        assert_eq!(s.ntf_service_count(&id(b'v', 3)), 0);
        assert_eq!(
            s.queue(&r10)
                .unwrap()
                .notifier
                .as_ref()
                .unwrap()
                .ntf_service_id,
            Some(v1.clone())
        );
        // moved to another service, removed, gone with NDEL and with the queue
        s.set_ntf_service(&r12, Some(&v1)).unwrap();
        assert_eq!(
            (s.ntf_service_count(&v1), s.ntf_service_count(&id(b'v', 2))),
            (3, 0)
        );
        s.set_ntf_service(&r12, None).unwrap();
        assert_eq!(s.ntf_service_count(&v1), 2);
        s.delete_notifier(&r11).unwrap();
        assert_eq!(s.ntf_service_count(&v1), 1);
        assert_eq!(s.set_ntf_service(&r11, Some(&v1)), Err(ErrorType::Auth));
        assert_eq!(s.set_ntf_service(&id(b'r', 99), None), Err(ErrorType::Auth));
        // new notifier credentials are not associated
        s.add_notifier(&r11, creds(13)).unwrap();
        assert_eq!(s.ntf_service_count(&v1), 1);
        s.set_ntf_service(&r11, Some(&v1)).unwrap();
        s.add_notifier(&r11, creds(14)).unwrap();
        assert_eq!(s.ntf_service_count(&v1), 1);
        s.set_ntf_service(&r11, Some(&v1)).unwrap();
        assert_eq!(s.ntf_service_count(&v1), 2);
        s.delete_queue(&r11).unwrap();
        assert_eq!(s.ntf_service_count(&v1), 1);
        // kept notifications by notifier id
        s.store_ntf(&id(b'n', 10), ntf(1, 1)).unwrap();
        assert_eq!(s.kept_ntf_notifiers(), vec![id(b'n', 10)]);
        let _ = s.take_ntfs(&id(b'n', 10));
        assert!(s.kept_ntf_notifiers().is_empty());
    }

    #[test]
    fn mem_store_services() {
        service_behaviour(&mut MemQueueStore::new());
    }

    #[test]
    fn sqlite_store_services_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let mut s = SqliteQueueStore::open(&path).unwrap();
            service_behaviour(&mut s);
        }
        let mut s = SqliteQueueStore::open(&path).unwrap();
        let v1 = id(b'v', 1);
        assert_eq!(s.ntf_service_count(&v1), 1);
        assert_eq!(
            s.queue(&id(b'r', 10))
                .unwrap()
                .notifier
                .as_ref()
                .unwrap()
                .ntf_service_id,
            Some(v1.clone())
        );
        assert_eq!(
            s.get_create_service(service(2, ServiceRole::Notifier)),
            Ok(id(b'v', 2))
        );
        assert_eq!(
            s.get_create_service(service(1, ServiceRole::Proxy)),
            Err(ErrorType::Service)
        );
    }

    fn rec(n: u8) -> QueueRec {
        QueueRec {
            sender_id: id(b's', n),
            recipient_keys: vec![key(n)],
            rcv_dh_secret: [n; 32],
            sender_key: None,
            queue_mode: Some(QueueMode::Messaging),
            link: None,
            notifier: None,
            status: QueueStatus::Active,
        }
    }

    fn msg(n: u8, ntf: bool) -> StoredMessage {
        StoredMessage::Message {
            msg_id: id(b'm', n),
            msg_ts: 1_700_000_000 + i64::from(n),
            msg_flags: MsgFlags { notification: ntf },
            body: vec![n; usize::from(n) * 10],
        }
    }

    fn ntf(ts: i64, n: u8) -> MsgNtf {
        MsgNtf {
            ts,
            nonce: [n; 24],
            enc_meta: vec![n; 144],
        }
    }

    /// Removes and returns all messages, in order.
    fn drain<S: QueueStore>(s: &mut S, rid: &[u8]) -> Vec<StoredMessage> {
        let mut out = Vec::new();
        while let Some(m) = s.peek_msg(rid).cloned() {
            assert_eq!(s.del_msg(rid, m.msg_id()), Some(m.clone()));
            out.push(m);
        }
        out
    }

    /// The behaviour every store must have.
    fn behaviour<S: QueueStore>(s: &mut S) {
        let (r1, r2) = (id(b'r', 1), id(b'r', 2));
        let mut q1 = rec(1);
        q1.link = Some((
            id(b'l', 1),
            QueueLinkData {
                fixed: vec![1, 2],
                user: vec![3],
            },
        ));
        s.add_queue(&r1, q1.clone()).unwrap();
        assert_eq!(s.queue(&r1), Some(&q1));
        assert_eq!(s.find(Party::Recipient, &r1), Some(r1.clone()));
        assert_eq!(s.find(Party::Sender, &id(b's', 1)), Some(r1.clone()));
        assert_eq!(s.find(Party::Sender, &id(b's', 2)), None);
        assert_eq!(s.queue_count(), 1);

        // every id of a new queue must be free
        assert_eq!(s.add_queue(&r1, rec(2)), Err(ErrorType::Duplicate));
        let mut same_sender = rec(2);
        same_sender.sender_id = id(b's', 1);
        assert_eq!(s.add_queue(&r2, same_sender), Err(ErrorType::Duplicate));
        let mut same_link = rec(2);
        same_link.link = q1.link.clone();
        assert_eq!(s.add_queue(&r2, same_link), Err(ErrorType::Duplicate));
        let mut q2 = rec(2);
        q2.notifier = Some(creds(2));
        s.add_queue(&r2, q2.clone()).unwrap();
        assert_eq!(s.find(Party::Notifier, &id(b'n', 2)), Some(r2.clone()));
        let mut same_notifier = rec(3);
        same_notifier.notifier = Some(creds(2));
        assert_eq!(
            s.add_queue(&id(b'r', 3), same_notifier),
            Err(ErrorType::Duplicate)
        );
        assert_eq!(s.queue_count(), 2);

        // securing: once, then only with the same key
        s.secure_queue(&r1, key(50)).unwrap();
        s.secure_queue(&r1, key(50)).unwrap();
        assert_eq!(s.secure_queue(&r1, key(51)), Err(ErrorType::Auth));
        assert_eq!(s.queue(&r1).unwrap().sender_key, Some(key(50)));
        assert_eq!(s.secure_queue(&id(b'r', 9), key(50)), Err(ErrorType::Auth));

        // notifier credentials: a taken id is refused, replacing returns the old ones and
        // drops their kept notifications
        assert_eq!(s.add_notifier(&r1, creds(2)), Err(ErrorType::Duplicate));
        assert_eq!(s.add_notifier(&r1, creds(1)), Ok(None));
        s.store_ntf(&id(b'n', 1), ntf(100, 1)).unwrap();
        s.store_ntf(&id(b'n', 1), ntf(101, 2)).unwrap();
        s.store_ntf(&id(b'n', 2), ntf(102, 3)).unwrap();
        assert_eq!(s.ntf_count(), 3);
        assert_eq!(s.add_notifier(&r1, creds(4)), Ok(Some(creds(1))));
        assert_eq!(s.find(Party::Notifier, &id(b'n', 1)), None);
        assert_eq!(s.find(Party::Notifier, &id(b'n', 4)), Some(r1.clone()));
        assert_eq!(
            s.ntf_count(),
            1,
            "the replaced id's notifications are dropped"
        );
        assert!(s.take_ntfs(&id(b'n', 1)).is_empty());
        assert_eq!(s.add_notifier(&id(b'r', 9), creds(5)), Err(ErrorType::Auth));

        // kept notifications: in order, taken once, expired by time
        s.store_ntf(&id(b'n', 4), ntf(200, 4)).unwrap();
        s.store_ntf(&id(b'n', 4), ntf(300, 5)).unwrap();
        assert_eq!(s.expire_ntfs(150), 1, "the one at 102");
        assert_eq!(s.expire_ntfs(150), 0);
        assert_eq!(s.take_ntfs(&id(b'n', 4)), vec![ntf(200, 4), ntf(300, 5)]);
        assert!(s.take_ntfs(&id(b'n', 4)).is_empty());
        assert_eq!(s.ntf_count(), 0);

        // NDEL frees the id and drops what was kept
        s.store_ntf(&id(b'n', 2), ntf(400, 6)).unwrap();
        assert_eq!(s.delete_notifier(&r2), Ok(Some(creds(2))));
        assert_eq!(s.delete_notifier(&r2), Ok(None));
        assert_eq!(s.find(Party::Notifier, &id(b'n', 2)), None);
        assert_eq!(s.ntf_count(), 0);
        assert_eq!(s.delete_notifier(&id(b'r', 9)), Err(ErrorType::Auth));

        // messages and the quota (2): the third is a marker, then nothing until emptied
        assert_eq!(
            s.write_msg(&r1, msg(1, true), 2),
            Ok(Some((msg(1, true), true)))
        );
        assert_eq!(
            s.write_msg(&r1, msg(2, false), 2),
            Ok(Some((msg(2, false), false)))
        );
        assert_eq!(s.write_msg(&r1, msg(3, false), 2), Ok(None));
        assert_eq!(s.write_msg(&r1, msg(4, false), 2), Ok(None));
        assert_eq!(s.peek_msg(&r1), Some(&msg(1, true)));
        assert_eq!(
            s.del_msg(&r1, &id(b'm', 2)),
            None,
            "only the first is deleted"
        );
        let quota = StoredMessage::Quota {
            msg_id: id(b'm', 3),
            msg_ts: msg(3, false).msg_ts(),
        };
        assert_eq!(drain(s, &r1), vec![msg(1, true), msg(2, false), quota]);
        assert_eq!(
            s.write_msg(&r1, msg(5, false), 2),
            Ok(Some((msg(5, false), true)))
        );
        assert_eq!(
            s.write_msg(&id(b'r', 9), msg(6, false), 2),
            Err(ErrorType::Auth)
        );
        assert_eq!(s.peek_msg(&id(b'r', 9)), None);

        // link, status
        s.delete_link(&r1).unwrap();
        assert_eq!(s.queue(&r1).unwrap().link, None);
        s.suspend_queue(&r1).unwrap();
        assert_eq!(s.queue(&r1).unwrap().status, QueueStatus::Off);
        assert_eq!(s.suspend_queue(&id(b'r', 9)), Err(ErrorType::Auth));
        assert_eq!(s.delete_link(&id(b'r', 9)), Err(ErrorType::Auth));

        // deleting a queue frees its ids and drops its messages and notifications
        s.store_ntf(&id(b'n', 4), ntf(500, 7)).unwrap();
        let gone = s.delete_queue(&r1).unwrap();
        assert_eq!(gone.notifier, Some(creds(4)));
        assert_eq!(s.queue(&r1), None);
        assert_eq!(s.peek_msg(&r1), None);
        assert_eq!(s.ntf_count(), 0);
        assert_eq!(s.find(Party::Sender, &id(b's', 1)), None);
        assert_eq!(s.delete_queue(&r1), Err(ErrorType::Auth));
        let mut reuse = rec(7);
        reuse.sender_id = id(b's', 1);
        reuse.notifier = Some(creds(4));
        s.add_queue(&r1, reuse).unwrap();
        assert_eq!(s.queue_count(), 2);
    }

    #[test]
    fn mem_store_behaviour() {
        behaviour(&mut MemQueueStore::new());
    }

    #[test]
    fn sqlite_store_behaviour() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteQueueStore::open(dir.path().join(DB_FILE)).unwrap();
        behaviour(&mut s);
        // and what it left is what a reopened store finds
        let mut again = SqliteQueueStore::open(dir.path().join(DB_FILE)).unwrap();
        assert_eq!(again.queue_count(), 2);
        for rid in [id(b'r', 1), id(b'r', 2)] {
            assert_eq!(again.queue(&rid), s.queue(&rid));
            assert_eq!(drain(&mut again, &rid), drain(&mut s, &rid));
        }
    }

    /// Builds the same state in two stores: queues in every state, messages up to the quota
    /// marker, kept notifications.
    fn populate<S: QueueStore>(s: &mut S) {
        for n in 1..=4 {
            s.add_queue(&id(b'r', n), rec(n)).unwrap();
        }
        let mut contact = rec(5);
        contact.queue_mode = Some(QueueMode::Contact);
        contact.recipient_keys = vec![key(5), key(55)];
        contact.link = Some((
            id(b'l', 5),
            QueueLinkData {
                fixed: vec![9; 300],
                user: vec![8; 20],
            },
        ));
        s.add_queue(&id(b'r', 5), contact).unwrap();
        let mut old = rec(6);
        old.queue_mode = None;
        s.add_queue(&id(b'r', 6), old).unwrap();
        s.secure_queue(&id(b'r', 1), key(60)).unwrap();
        s.add_notifier(&id(b'r', 1), creds(1)).unwrap();
        s.add_notifier(&id(b'r', 2), creds(2)).unwrap();
        s.suspend_queue(&id(b'r', 3)).unwrap();
        s.delete_queue(&id(b'r', 4)).unwrap();
        for n in 1..=3 {
            s.write_msg(&id(b'r', 1), msg(n, n != 2), 8).unwrap();
        }
        for n in 10..=14 {
            s.write_msg(&id(b'r', 2), msg(n, false), 3).unwrap();
        }
        s.del_msg(&id(b'r', 1), &id(b'm', 1)).unwrap();
        s.store_ntf(&id(b'n', 1), ntf(10, 1)).unwrap();
        s.store_ntf(&id(b'n', 1), ntf(20, 2)).unwrap();
        s.store_ntf(&id(b'n', 2), ntf(30, 3)).unwrap();
    }

    #[test]
    fn reopened_store_finds_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let mut mem = MemQueueStore::new();
        populate(&mut mem);
        {
            let mut s = SqliteQueueStore::open(&path).unwrap();
            populate(&mut s);
        }
        let mut s = SqliteQueueStore::open(&path).unwrap();
        assert_eq!(s.queue_count(), 5);
        assert_eq!(s.ntf_count(), 3);
        for n in 1..=6 {
            let rid = id(b'r', n);
            assert_eq!(s.queue(&rid), mem.queue(&rid), "queue {n}");
            for (party, qid) in [(Party::Sender, id(b's', n)), (Party::Notifier, id(b'n', n))] {
                assert_eq!(s.find(party, &qid), mem.find(party, &qid), "queue {n}");
            }
        }
        let q5 = s.queue(&id(b'r', 5)).unwrap();
        assert_eq!(q5.recipient_keys, vec![key(5), key(55)]);
        assert_eq!(q5.link.as_ref().unwrap().1.fixed, vec![9; 300]);
        assert_eq!(s.queue(&id(b'r', 3)).unwrap().status, QueueStatus::Off);
        assert_eq!(s.queue(&id(b'r', 1)).unwrap().notifier, Some(creds(1)));
        // the quota marker is back, so the full queue still refuses until emptied
        assert_eq!(s.write_msg(&id(b'r', 2), msg(20, false), 3), Ok(None));
        assert_eq!(mem.write_msg(&id(b'r', 2), msg(20, false), 3), Ok(None));
        let kept = s.take_ntfs(&id(b'n', 1));
        assert_eq!(kept, vec![ntf(10, 1), ntf(20, 2)]);
        assert_eq!(kept, mem.take_ntfs(&id(b'n', 1)));
        for rid in [id(b'r', 1), id(b'r', 2)] {
            let msgs = drain(&mut s, &rid);
            assert!(!msgs.is_empty());
            assert_eq!(msgs, drain(&mut mem, &rid));
        }
        // what was taken and deleted stays so after another reopen
        drop(s);
        let s = SqliteQueueStore::open(&path).unwrap();
        assert_eq!(s.ntf_count(), 1);
        assert_eq!(s.peek_msg(&id(b'r', 1)), None);
        assert_eq!(s.peek_msg(&id(b'r', 2)), None);
    }

    #[test]
    fn failed_commit_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let config = SqliteConfig {
            busy_timeout: Duration::from_millis(20),
            ..SqliteConfig::default()
        };
        let mut s = SqliteQueueStore::open_with(&path, &config).unwrap();
        let r1 = id(b'r', 1);
        s.add_queue(&r1, rec(1)).unwrap();
        // another connection holds the write lock: every write times out
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert_eq!(s.add_queue(&id(b'r', 2), rec(2)), Err(ErrorType::Internal));
        assert_eq!(s.queue(&id(b'r', 2)), None);
        assert_eq!(s.find(Party::Sender, &id(b's', 2)), None);
        assert_eq!(s.write_msg(&r1, msg(1, true), 4), Err(ErrorType::Internal));
        assert_eq!(s.peek_msg(&r1), None);
        assert_eq!(s.add_notifier(&r1, creds(1)), Err(ErrorType::Internal));
        assert_eq!(s.queue(&r1).unwrap().notifier, None);
        assert_eq!(
            s.store_ntf(&id(b'n', 1), ntf(1, 1)),
            Err(ErrorType::Internal)
        );
        assert_eq!(s.ntf_count(), 0);
        other.execute_batch("ROLLBACK").unwrap();
        // once the lock is gone, the same writes succeed and are durable
        s.add_queue(&id(b'r', 2), rec(2)).unwrap();
        s.write_msg(&r1, msg(1, true), 4).unwrap();
        s.add_notifier(&r1, creds(1)).unwrap();
        s.store_ntf(&id(b'n', 1), ntf(1, 1)).unwrap();
        // a delete that cannot commit keeps the message for a later delivery
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert_eq!(s.del_msg(&r1, &id(b'm', 1)), None);
        assert!(s.take_ntfs(&id(b'n', 1)).is_empty());
        other.execute_batch("ROLLBACK").unwrap();
        drop(s);
        let s = SqliteQueueStore::open(&path).unwrap();
        assert_eq!(s.queue_count(), 2);
        assert_eq!(s.peek_msg(&r1), Some(&msg(1, true)));
        assert_eq!(s.queue(&r1).unwrap().notifier, Some(creds(1)));
        assert_eq!(s.ntf_count(), 1);
    }

    #[test]
    fn refuses_newer_schema_and_damaged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let mut s = SqliteQueueStore::open(&path).unwrap();
        s.add_queue(&id(b'r', 1), rec(1)).unwrap();
        drop(s);
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE msg_queues SET status = 'blocked'", [])
            .unwrap();
        let e = SqliteQueueStore::open(&path).unwrap_err();
        assert!(e.to_string().contains("status"), "{e}");
        conn.execute(
            "UPDATE msg_queues SET status = 'active', recipient_keys = x'00'",
            [],
        )
        .unwrap();
        let e = SqliteQueueStore::open(&path).unwrap_err();
        assert!(e.to_string().contains("recipient_keys"), "{e}");
        conn.execute(
            "INSERT INTO schema_version(version, name, applied_at) VALUES (99, 'future', 0)",
            [],
        )
        .unwrap();
        let e = SqliteQueueStore::open(&path).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
