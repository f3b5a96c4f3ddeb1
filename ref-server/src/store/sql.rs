//! The one body of the SQL stores: every [`Store`] method written once, over a [`Backend`]
//! that runs statements and transactions (SQLite in [`super::sqlite`], PostgreSQL in
//! [`super::postgres`]).
//!
//! The statements are written in SQLite's placeholder form (`?1`, `?2`, ...); the PostgreSQL
//! backend turns them into its `$1` form once, when it prepares a statement. Where the two
//! dialects differ, the backend gives the fragment (`FOR UPDATE`, an index hint, timestamps)
//! or the whole step (the statements that take arrays in PostgreSQL).
//!
//! Every mutating call is one write transaction, committed before it returns; a read is a
//! single statement (or a few that need no common snapshot) outside a transaction.

use std::collections::HashMap;
use std::fmt;
use std::string::String;
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus};
use smp_proto::keys::AuthPublicKey;
use smp_proto::server::SmpServer;

use super::rows::{
    self, ServerRow, SubRow, TokenRow, SERVER_COLUMNS, SUB_COLUMNS, SUB_COLUMN_COUNT, TOKEN_COLUMNS,
    T_TOKEN_COLUMNS,
};
use super::SHOULD_SUBSCRIBE_SQL;
use crate::ntf::{
    ServerService, Store, StoreError, StoreResult, SubStatusChange, SubscriptionRecord, TokenActivated, TokenRecord,
};

/// A statement parameter: the column types of the `ntf_server` schema.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    /// `BIGINT` / `INTEGER`.
    Int(i64),
    /// A nullable `BIGINT`.
    OptInt(Option<i64>),
    /// `BOOLEAN` (`INTEGER` 0/1 in SQLite).
    Bool(bool),
    /// `TEXT`.
    Text(&'a str),
    /// `BYTEA` / `BLOB`.
    Bytes(&'a [u8]),
    /// A nullable `BYTEA` / `BLOB`.
    OptBytes(Option<&'a [u8]>),
}

/// A result row: typed column values by index; a value of another type is a backend error.
pub trait DbRow {
    /// A `BYTEA` / `BLOB` column.
    ///
    /// # Errors
    /// A NULL or a value of another type.
    fn bytes(&self, i: usize) -> StoreResult<Vec<u8>>;
    /// A nullable `BYTEA` / `BLOB` column.
    ///
    /// # Errors
    /// A value of another type.
    fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>>;
    /// A `TEXT` column.
    ///
    /// # Errors
    /// A NULL or a value of another type.
    fn text(&self, i: usize) -> StoreResult<String>;
    /// A `BIGINT` / `INTEGER` column.
    ///
    /// # Errors
    /// A NULL or a value of another type.
    fn int(&self, i: usize) -> StoreResult<i64>;
    /// A nullable `BIGINT` / `INTEGER` column.
    ///
    /// # Errors
    /// A value of another type.
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>>;
    /// A `BOOLEAN` column.
    ///
    /// # Errors
    /// A NULL or a value of another type.
    fn boolean(&self, i: usize) -> StoreResult<bool>;
}

/// Implements [`DbRow`] for a backend's row type by its typed getter and error mapping.
macro_rules! db_row {
    ($row:ty, $get:ident, $err:path) => {
        impl $crate::store::sql::DbRow for $row {
            fn bytes(&self, i: usize) -> StoreResult<Vec<u8>> {
                self.$get(i).map_err($err)
            }
            fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>> {
                self.$get(i).map_err($err)
            }
            fn text(&self, i: usize) -> StoreResult<String> {
                self.$get(i).map_err($err)
            }
            fn int(&self, i: usize) -> StoreResult<i64> {
                self.$get(i).map_err($err)
            }
            fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
                self.$get(i).map_err($err)
            }
            fn boolean(&self, i: usize) -> StoreResult<bool> {
                self.$get(i).map_err($err)
            }
        }
    };
}
pub(crate) use db_row;

/// A connection in a transaction (or, for reads, outside one). Errors are mapped by the
/// backend: a unique-key violation is `Duplicate`, a foreign-key violation `NotFound`.
pub trait Conn {
    /// Runs a query (`?N` placeholders) and calls `each` for every row, in order.
    ///
    /// # Errors
    /// Backend failures, or the first error of `each`.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        each: &mut dyn FnMut(&dyn DbRow) -> StoreResult<()>,
    ) -> StoreResult<()>;

    /// Runs a statement once for every `width` parameters of `params` (prepared once);
    /// returns the number of rows changed.
    ///
    /// # Errors
    /// Backend failures; nothing after the failing row runs.
    fn execute_rows(&mut self, sql: &str, width: usize, params: &[Val<'_>]) -> StoreResult<u64>;

    /// Runs a statement once; returns the number of rows changed.
    ///
    /// # Errors
    /// Backend failures.
    fn execute(&mut self, sql: &str, params: &[Val<'_>]) -> StoreResult<u64> {
        self.execute_rows(sql, params.len(), params)
    }

    /// The rows of a query, each mapped by `f`.
    ///
    /// # Errors
    /// Backend failures and the errors of `f`.
    fn query_vec<T>(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        mut f: impl FnMut(&dyn DbRow) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>>
    where
        Self: Sized,
    {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row of a query, mapped by `f`.
    ///
    /// # Errors
    /// Backend failures and the error of `f`.
    fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        f: impl FnOnce(&dyn DbRow) -> StoreResult<T>,
    ) -> StoreResult<Option<T>>
    where
        Self: Sized,
    {
        let mut f = Some(f);
        let mut out = None;
        self.query_each(sql, params, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// A database behind [`SqlStore`]: how statements and transactions run, and the SQL that
/// differs between the dialects.
pub trait Backend: Send + 'static {
    /// A connection while a call runs.
    type Tx<'a>: Conn
    where
        Self: 'a;

    /// What [`SqlStore`]'s `Debug` shows (a path, settings without secrets).
    type Info: fmt::Debug + Send + Sync + 'static;

    /// Appended to a `SELECT` in a write transaction that must lock the rows it read
    /// (`" FOR UPDATE"`; empty in SQLite, whose write transactions hold the database lock).
    const FOR_UPDATE: &'static str;

    /// The table of a server's subscriptions in id order (SQLite names the index).
    const SUBS_BY_SERVER: &'static str;

    /// The query of the (approximate) number of subscriptions, one integer.
    const SUB_COUNT_SQL: &'static str;

    /// The query of the applied migrations' names, oldest first.
    const MIGRATIONS_SQL: &'static str;

    /// Runs `f` on the connection: in a transaction committed when `f` succeeds (rolled back
    /// otherwise) when `write`, else outside one.
    ///
    /// # Errors
    /// Connection and commit failures, and the errors of `f`.
    fn run<T>(
        &mut self,
        write: bool,
        f: impl FnOnce(&mut Self::Tx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T>;

    /// The SQL of a `sent_at` value from the Unix seconds in parameter `param`.
    fn timestamp(param: &str) -> String;

    /// The SQL of the Unix seconds of the `sent_at` column `col`.
    fn epoch_seconds(col: &str) -> String;

    /// Sets PENDING the subscriptions just `taken` (in id order) by
    /// [`Store::take_server_subscriptions`] in this transaction. The default is one range
    /// update: the rows taken are exactly those matching the query between the first and the
    /// last id taken (same filters, same order, same transaction), which holds when write
    /// transactions are serialized (SQLite).
    ///
    /// # Errors
    /// Backend failures.
    fn mark_pending(tx: &mut Self::Tx<'_>, server_id: i64, taken: &[SubRow]) -> StoreResult<()> {
        let (Some(first), Some(last)) = (taken.first(), taken.last()) else {
            return Ok(());
        };
        tx.execute(
            &format!(
                "UPDATE subscriptions SET status = 'PENDING' \
                 WHERE smp_server_id = ?1 AND NOT ntf_service_assoc \
                   AND status IN {SHOULD_SUBSCRIBE_SQL} AND status != 'PENDING' \
                   AND subscription_id >= ?2 AND subscription_id <= ?3"
            ),
            &[
                Val::Int(server_id),
                Val::Bytes(&first.subscription_id),
                Val::Bytes(&last.subscription_id),
            ],
        )?;
        Ok(())
    }

    /// Sets subscription statuses on one server by notifier id; returns how many changed.
    /// The default is one prepared update per row.
    ///
    /// # Errors
    /// Backend failures.
    fn set_statuses(
        tx: &mut Self::Tx<'_>,
        server_id: i64,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<u64> {
        set_statuses_by_row(tx, server_id, updates)
    }

    /// [`Backend::set_statuses`], returning the subscriptions that changed. The default is one
    /// prepared `UPDATE ... RETURNING` per row.
    ///
    /// # Errors
    /// Backend failures.
    fn set_statuses_returning(
        tx: &mut Self::Tx<'_>,
        server_id: i64,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<Vec<SubStatusChange>> {
        set_statuses_returning_by_row(tx, server_id, updates)
    }

    /// Inserts subscriptions whose servers are known (`server_id`), skipping those whose
    /// queue has one; returns how many were added. The default inserts row by row.
    ///
    /// # Errors
    /// `NotFound` for a missing token, `Duplicate` for a taken id.
    fn insert_subs(
        tx: &mut Self::Tx<'_>,
        subs: &[SubscriptionRecord],
        server_id: &dyn Fn(&SmpServer) -> i64,
    ) -> StoreResult<usize> {
        let mut n = 0;
        for s in subs {
            n += usize::from(insert_sub(tx, server_id(&s.queue.server), &SubRow::new(s))?);
        }
        Ok(n)
    }
}

/// The subscription status updates of [`Backend::set_statuses`], one prepared update per row.
///
/// # Errors
/// Backend failures.
pub fn set_statuses_by_row<C: Conn>(
    tx: &mut C,
    server_id: i64,
    updates: &[(Vec<u8>, NtfSubStatus)],
) -> StoreResult<u64> {
    let texts: Vec<String> = updates.iter().map(|(_, s)| rows::sub_status_text(s)).collect();
    let mut params = Vec::with_capacity(updates.len() * 3);
    for ((nid, _), text) in updates.iter().zip(&texts) {
        params.extend([Val::Text(text), Val::Int(server_id), Val::Bytes(nid)]);
    }
    tx.execute_rows(
        "UPDATE subscriptions SET status = ?1 \
         WHERE smp_server_id = ?2 AND smp_notifier_id = ?3 AND status != ?1",
        3,
        &params,
    )
}

/// The updates of [`Backend::set_statuses_returning`], one prepared `UPDATE ... RETURNING`
/// per row.
///
/// # Errors
/// Backend failures.
pub fn set_statuses_returning_by_row<C: Conn>(
    tx: &mut C,
    server_id: i64,
    updates: &[(Vec<u8>, NtfSubStatus)],
) -> StoreResult<Vec<SubStatusChange>> {
    let mut changed = Vec::new();
    for (nid, status) in updates {
        let text = rows::sub_status_text(status);
        let row = tx.query_opt(
            "UPDATE subscriptions SET status = ?1 \
             WHERE smp_server_id = ?2 AND smp_notifier_id = ?3 AND status != ?1 \
             RETURNING subscription_id, ntf_service_assoc",
            &[Val::Text(&text), Val::Int(server_id), Val::Bytes(nid)],
            |r| Ok((r.bytes(0)?, r.boolean(1)?)),
        )?;
        if let Some((id, service_assoc)) = row {
            let id = rows::entity_id(id, "subscription id")?;
            changed.push(SubStatusChange { id, status: status.clone(), service_assoc });
        }
    }
    Ok(changed)
}

/// SMP server ids: those known to be committed, and those learned in the running call
/// (kept when it succeeds). Servers are never deleted.
#[derive(Debug, Default)]
struct Servers {
    committed: HashMap<SmpServer, i64>,
    learned: Vec<(SmpServer, i64)>,
}

impl Servers {
    fn known(&self, server: &SmpServer) -> Option<i64> {
        self.committed.get(server).copied().or_else(|| {
            self.learned
                .iter()
                .find(|(s, _)| s == server)
                .map(|(_, id)| *id)
        })
    }

    /// The id of a stored server, from the cache or the database.
    fn id<C: Conn>(&mut self, tx: &mut C, server: &SmpServer) -> StoreResult<Option<i64>> {
        if let Some(id) = self.known(server) {
            return Ok(Some(id));
        }
        let row = ServerRow::new(server);
        let id = tx.query_opt(
            "SELECT smp_server_id FROM smp_servers \
             WHERE smp_host = ?1 AND smp_port = ?2 AND smp_keyhash = ?3",
            &[Val::Text(&row.host), Val::Text(&row.port), Val::Bytes(&row.keyhash)],
            |r| r.int(0),
        )?;
        if let Some(id) = id {
            self.learned.push((server.clone(), id));
        }
        Ok(id)
    }

    /// The id of a server, inserted when missing (in a write transaction).
    fn upsert<C: Conn>(&mut self, tx: &mut C, server: &SmpServer) -> StoreResult<i64> {
        if let Some(id) = self.id(tx, server)? {
            return Ok(id);
        }
        let row = ServerRow::new(server);
        let id = tx
            .query_opt(
                "INSERT INTO smp_servers (smp_host, smp_port, smp_keyhash) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (smp_host, smp_port, smp_keyhash) \
                 DO UPDATE SET smp_host = EXCLUDED.smp_host \
                 RETURNING smp_server_id",
                &[Val::Text(&row.host), Val::Text(&row.port), Val::Bytes(&row.keyhash)],
                |r| r.int(0),
            )?
            .ok_or_else(|| StoreError::Backend("SMP server not inserted".into()))?;
        self.learned.push((server.clone(), id));
        Ok(id)
    }
}

struct Inner<B> {
    db: B,
    servers: Servers,
}

/// A durable [`Store`] on an SQL database: [`SqliteStore`](super::SqliteStore) or
/// [`PgStore`](super::PgStore). One connection, used by one call at a time.
pub struct SqlStore<B: Backend> {
    inner: Mutex<Inner<B>>,
    info: B::Info,
}

impl<B: Backend> fmt::Debug for SqlStore<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.info)
            .finish_non_exhaustive()
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn not_found_if_zero(n: u64) -> StoreResult<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn token_row(r: &dyn DbRow, at: usize) -> StoreResult<TokenRow> {
    Ok(TokenRow {
        token_id: r.bytes(at)?,
        push_provider: r.text(at + 1)?,
        push_provider_token: r.bytes(at + 2)?,
        status: r.text(at + 3)?,
        verify_key: r.bytes(at + 4)?,
        dh_priv_key: r.bytes(at + 5)?,
        dh_secret: r.bytes(at + 6)?,
        reg_code: r.bytes(at + 7)?,
        cron_interval: r.int(at + 8)?,
        cron_sent_at: r.opt_int(at + 9)?,
        updated_at: r.opt_int(at + 10)?,
    })
}

fn sub_row(r: &dyn DbRow, at: usize) -> StoreResult<SubRow> {
    Ok(SubRow {
        subscription_id: r.bytes(at)?,
        token_id: r.bytes(at + 1)?,
        smp_notifier_id: r.bytes(at + 2)?,
        smp_notifier_key: r.bytes(at + 3)?,
        status: r.text(at + 4)?,
        ntf_service_assoc: r.boolean(at + 5)?,
        smp_notifier_public_key: r.opt_bytes(at + 6)?,
    })
}

fn server_row(r: &dyn DbRow, at: usize) -> StoreResult<ServerRow> {
    Ok(ServerRow {
        host: r.text(at)?,
        port: r.text(at + 1)?,
        keyhash: r.bytes(at + 2)?,
    })
}

/// The queues of the subscriptions selected by `cond` on `s` (joined with `t` and `p`).
/// Up to `limit_n` subscriptions of server `srv` that should be subscribed and are not
/// associated with a service, after the id `after`, in id order; `extra`: a further condition.
fn server_page<B: Backend>(
    tx: &mut B::Tx<'_>,
    srv: i64,
    extra: &str,
    after: Option<&NtfEntityId>,
    limit_n: usize,
) -> StoreResult<Vec<SubRow>> {
    let base = format!(
        "SELECT {SUB_COLUMNS} FROM {} \
         WHERE s.smp_server_id = ?1 AND NOT s.ntf_service_assoc \
           AND s.status IN {SHOULD_SUBSCRIBE_SQL}{extra}",
        B::SUBS_BY_SERVER
    );
    match after {
        None => tx.query_vec(
            &format!("{base} ORDER BY s.subscription_id LIMIT ?2"),
            &[Val::Int(srv), Val::Int(limit(limit_n))],
            |r| sub_row(r, 0),
        ),
        Some(a) => tx.query_vec(
            &format!("{base} AND s.subscription_id > ?3 ORDER BY s.subscription_id LIMIT ?2"),
            &[Val::Int(srv), Val::Int(limit(limit_n)), Val::Bytes(a.as_bytes())],
            |r| sub_row(r, 0),
        ),
    }
}

/// The rows just set PENDING, as records of `server`.
fn pending_records(found: Vec<SubRow>, server: &SmpServer) -> StoreResult<Vec<SubscriptionRecord>> {
    found
        .into_iter()
        .map(|row| {
            let mut rec = row.into_record(server.clone())?;
            rec.status = NtfSubStatus::Pending;
            Ok(rec)
        })
        .collect()
}

fn queues_where<C: Conn>(tx: &mut C, cond: &str, params: &[Val<'_>]) -> StoreResult<Vec<SmpQueueNtf>> {
    let sql = format!(
        "SELECT {SERVER_COLUMNS}, s.smp_notifier_id FROM subscriptions s \
         JOIN tokens t ON t.token_id = s.token_id \
         JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
         WHERE {cond} ORDER BY t.token_id, s.subscription_id"
    );
    tx.query_vec(&sql, params, |r| rows::queue(server_row(r, 0)?.to_server()?, r.bytes(3)?))
}

/// Inserts a subscription whose token exists; `false` when the queue has one.
fn insert_sub<C: Conn>(tx: &mut C, server_id: i64, row: &SubRow) -> StoreResult<bool> {
    let taken = tx.query_opt(
        "SELECT 1 FROM subscriptions WHERE subscription_id = ?1",
        &[Val::Bytes(&row.subscription_id)],
        |_| Ok(()),
    )?;
    if taken.is_some() {
        return Err(StoreError::Duplicate);
    }
    let n = tx.execute(
        "INSERT INTO subscriptions (token_id, smp_server_id, smp_notifier_id, \
         subscription_id, smp_notifier_key, status, ntf_service_assoc, \
         smp_notifier_public_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (smp_server_id, smp_notifier_id) DO NOTHING",
        &[
            Val::Bytes(&row.token_id),
            Val::Int(server_id),
            Val::Bytes(&row.smp_notifier_id),
            Val::Bytes(&row.subscription_id),
            Val::Bytes(&row.smp_notifier_key),
            Val::Text(&row.status),
            Val::Bool(row.ntf_service_assoc),
            Val::OptBytes(row.smp_notifier_public_key.as_deref()),
        ],
    )?;
    Ok(n > 0)
}

impl<B: Backend> SqlStore<B> {
    /// A store on an opened (and migrated) database.
    pub(crate) fn new(db: B, info: B::Info) -> Self {
        Self {
            inner: Mutex::new(Inner {
                db,
                servers: Servers::default(),
            }),
            info,
        }
    }

    /// What the backend shows of itself (the SQLite path, the PostgreSQL settings).
    pub(crate) fn info(&self) -> &B::Info {
        &self.info
    }

    fn lock(&self) -> MutexGuard<'_, Inner<B>> {
        // a panic while holding the lock left no open transaction (it rolled back on drop)
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` (see [`Backend::run`]) with the server ids; the ids it learned are kept when
    /// it succeeds.
    fn run<T>(
        &self,
        write: bool,
        f: impl FnOnce(&mut B::Tx<'_>, &mut Servers) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.servers.learned.clear();
        let servers = &mut inner.servers;
        let r = inner.db.run(write, |tx| f(tx, servers));
        let learned = std::mem::take(&mut inner.servers.learned);
        if r.is_ok() {
            inner.servers.committed.extend(learned);
        }
        r
    }

    /// Runs `f` in a write transaction.
    pub(crate) fn with_write<T>(&self, f: impl FnOnce(&mut B::Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.run(true, |tx, _| f(tx))
    }

    /// Runs `f` outside a transaction.
    pub(crate) fn with_read<T>(&self, f: impl FnOnce(&mut B::Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.run(false, |tx, _| f(tx))
    }

    /// The names of the applied migrations, oldest first.
    ///
    /// # Errors
    /// Backend failures.
    pub fn migrations(&self) -> StoreResult<Vec<String>> {
        self.with_read(|tx| tx.query_vec(B::MIGRATIONS_SQL, &[], |r| r.text(0)))
    }

    /// Numbers of tokens, subscriptions and last notifications (`getEntityCounts`).
    ///
    /// # Errors
    /// Backend failures.
    pub fn counts(&self) -> StoreResult<(u64, u64, u64)> {
        self.with_read(|tx| {
            let mut count = |table: &str| -> StoreResult<u64> {
                let n = tx.query_opt(&format!("SELECT count(1) FROM {table}"), &[], |r| r.int(0))?;
                Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
            };
            Ok((
                count("tokens")?,
                count("subscriptions")?,
                count("last_notifications")?,
            ))
        })
    }

    /// Adds many subscriptions in one transaction (an import; the server adds them one by
    /// one with [`Store::add_subscription`]). Subscriptions whose queue already has one are
    /// skipped; returns how many were added.
    ///
    /// # Errors
    /// `NotFound` when a token is missing, `Duplicate` for a taken id; nothing is added then.
    pub fn import_subscriptions(&mut self, subs: &[SubscriptionRecord]) -> StoreResult<usize> {
        self.run(true, |tx, servers| {
            let mut ids: HashMap<&SmpServer, i64> = HashMap::new();
            for s in subs {
                if !ids.contains_key(&s.queue.server) {
                    ids.insert(&s.queue.server, servers.upsert(tx, &s.queue.server)?);
                }
            }
            B::insert_subs(tx, subs, &|srv| ids.get(srv).copied().unwrap_or_default())
        })
    }

    /// Takes up to `limit` subscriptions on `server` still NEW (made by any instance sharing
    /// the database, not yet subscribed), in id order; they become PENDING. The owner of a
    /// relay polls this for subscriptions other instances accepted.
    ///
    /// # Errors
    /// Backend failures.
    pub fn take_new_subscriptions(
        &self,
        server: &SmpServer,
        limit_n: usize,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        self.run(true, |tx, servers| {
            let Some(srv) = servers.id(tx, server)? else {
                return Ok(Vec::new());
            };
            let found = tx.query_vec(
                &format!(
                    "SELECT {SUB_COLUMNS} FROM subscriptions s \
                     WHERE s.smp_server_id = ?1 AND NOT s.ntf_service_assoc AND s.status = 'NEW' \
                     ORDER BY s.subscription_id LIMIT ?2{}",
                    B::FOR_UPDATE
                ),
                &[Val::Int(srv), Val::Int(limit(limit_n))],
                |r| sub_row(r, 0),
            )?;
            let ids: Vec<Val<'_>> = found.iter().map(|s| Val::Bytes(&s.subscription_id)).collect();
            if !ids.is_empty() {
                tx.execute_rows(
                    "UPDATE subscriptions SET status = 'PENDING' \
                     WHERE subscription_id = ?1 AND status = 'NEW'",
                    1,
                    &ids,
                )?;
            }
            pending_records(found, server)
        })
    }

    /// A page of the subscriptions on `server` to subscribe when another instance's relay is
    /// taken over: up to `limit` after the id `after`, in id order, not associated with a
    /// service, in PENDING, ACTIVE, INACTIVE or SERVICE (NEW ones are the poll's,
    /// [`take_new_subscriptions`](Self::take_new_subscriptions)). Read only: their statuses
    /// stay until the relay answers (ACTIVE rows of the dead owner then need no write at all).
    ///
    /// # Errors
    /// Backend failures.
    pub fn takeover_page(
        &self,
        server: &SmpServer,
        after: Option<&NtfEntityId>,
        limit_n: usize,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        self.run(false, |tx, servers| {
            let Some(srv) = servers.id(tx, server)? else {
                return Ok(Vec::new());
            };
            let found = server_page::<B>(tx, srv, " AND s.status <> 'NEW'", after, limit_n)?;
            found.into_iter().map(|row| row.into_record(server.clone())).collect()
        })
    }

    fn token_where(&self, cond: &str, params: &[Val<'_>]) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {cond}");
        self.with_read(|tx| tx.query_opt(&sql, params, |r| token_row(r, 0)?.into_record()))
    }
}

impl<B: Backend> Store for SqlStore<B> {
    fn entity_counts(&self) -> StoreResult<crate::ntf::store::EntityCounts> {
        let count = |tx: &mut B::Tx<'_>, sql: &str| -> StoreResult<u64> {
            let n = tx.query_opt(sql, &[], |r| r.int(0))?.unwrap_or(0);
            Ok(u64::try_from(n).unwrap_or(0))
        };
        self.with_read(|tx| {
            Ok(crate::ntf::store::EntityCounts {
                tokens: count(tx, "SELECT count(1) FROM tokens")?,
                subscriptions: count(tx, B::SUB_COUNT_SQL)?,
                last_notifications: count(tx, "SELECT count(1) FROM last_notifications")?,
            })
        })
    }

    fn get_token(&self, id: &NtfEntityId) -> StoreResult<Option<TokenRecord>> {
        self.token_where("token_id = ?1", &[Val::Bytes(id.as_bytes())])
    }

    fn find_token_registration(
        &self,
        token: &DeviceToken,
        verify_key: &AuthPublicKey,
    ) -> StoreResult<Option<TokenRecord>> {
        let der = verify_key.key().to_der();
        let (provider, token) = rows::token_fields(token);
        self.token_where(
            "push_provider = ?1 AND push_provider_token = ?2 AND verify_key = ?3",
            &[
                Val::Text(&provider),
                Val::Bytes(&token),
                Val::Bytes(&der),
            ],
        )
    }

    fn touch_token(&mut self, id: &NtfEntityId, day: i64) -> StoreResult<()> {
        self.with_write(|tx| {
            not_found_if_zero(tx.execute(
                "UPDATE tokens SET updated_at = ?1 WHERE token_id = ?2",
                &[Val::Int(day), Val::Bytes(id.as_bytes())],
            )?)
        })
    }

    fn add_token(&mut self, token: TokenRecord) -> StoreResult<()> {
        let r = TokenRow::new(&token);
        self.with_write(|tx| {
            tx.execute(
                &format!(
                    "INSERT INTO tokens ({TOKEN_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                &[
                    Val::Bytes(&r.token_id),
                    Val::Text(&r.push_provider),
                    Val::Bytes(&r.push_provider_token),
                    Val::Text(&r.status),
                    Val::Bytes(&r.verify_key),
                    Val::Bytes(&r.dh_priv_key),
                    Val::Bytes(&r.dh_secret),
                    Val::Bytes(&r.reg_code),
                    Val::Int(r.cron_interval),
                    Val::OptInt(r.cron_sent_at),
                    Val::OptInt(r.updated_at),
                ],
            )?;
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
        let status = rows::token_status_text(&status);
        let (provider, token) = rows::token_fields(&token);
        self.with_write(|tx| {
            not_found_if_zero(tx.execute(
                "UPDATE tokens SET push_provider = ?1, push_provider_token = ?2, status = ?3, \
                 reg_code = ?4 WHERE token_id = ?5",
                &[
                    Val::Text(&provider),
                    Val::Bytes(&token),
                    Val::Text(&status),
                    Val::Bytes(reg_code.as_bytes()),
                    Val::Bytes(id.as_bytes()),
                ],
            )?)
        })
    }

    fn update_token_status(&mut self, id: &NtfEntityId, status: NtfTknStatus) -> StoreResult<bool> {
        let s = rows::token_status_text(&status);
        self.with_write(|tx| {
            let n = tx.execute(
                "UPDATE tokens SET status = ?1 WHERE token_id = ?2 AND status != ?1",
                &[Val::Text(&s), Val::Bytes(id.as_bytes())],
            )?;
            Ok(n > 0)
        })
    }

    fn set_token_confirmed(&mut self, id: &NtfEntityId) -> StoreResult<bool> {
        self.with_write(|tx| {
            let n = tx.execute(
                "UPDATE tokens SET status = 'CONFIRMED' \
                 WHERE token_id = ?1 AND status != 'CONFIRMED' AND status != 'ACTIVE'",
                &[Val::Bytes(id.as_bytes())],
            )?;
            Ok(n > 0)
        })
    }

    fn set_token_active(&mut self, id: &NtfEntityId) -> StoreResult<TokenActivated> {
        let id = id.as_bytes();
        self.with_write(|tx| {
            let (pp, ppt) = tx
                .query_opt(
                    &format!(
                        "SELECT push_provider, push_provider_token FROM tokens \
                         WHERE token_id = ?1{}",
                        B::FOR_UPDATE
                    ),
                    &[Val::Bytes(id)],
                    |r| Ok((r.text(0)?, r.bytes(1)?)),
                )?
                .ok_or(StoreError::NotFound)?;
            let status_changed = tx.execute(
                "UPDATE tokens SET status = 'ACTIVE' WHERE token_id = ?1 AND status != 'ACTIVE'",
                &[Val::Bytes(id)],
            )? > 0;
            let p = [Val::Text(&pp), Val::Bytes(&ppt), Val::Bytes(id)];
            let queues = queues_where(
                tx,
                "t.push_provider = ?1 AND t.push_provider_token = ?2 AND t.token_id != ?3",
                &p,
            )?;
            let deleted_tokens = tx.query_vec(
                "DELETE FROM tokens \
                 WHERE push_provider = ?1 AND push_provider_token = ?2 AND token_id != ?3 \
                 RETURNING token_id",
                &p,
                |r| rows::entity_id(r.bytes(0)?, "token id"),
            )?;
            Ok(TokenActivated { status_changed, deleted_tokens, queues })
        })
    }

    fn delete_token(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        let p = [Val::Bytes(id.as_bytes())];
        self.with_write(|tx| {
            tx.query_opt(
                &format!("SELECT 1 FROM tokens WHERE token_id = ?1{}", B::FOR_UPDATE),
                &p,
                |_| Ok(()),
            )?
            .ok_or(StoreError::NotFound)?;
            let queues = queues_where(tx, "t.token_id = ?1", &p)?;
            not_found_if_zero(tx.execute("DELETE FROM tokens WHERE token_id = ?1", &p)?)?;
            Ok(queues)
        })
    }

    fn update_token_cron_interval(&mut self, id: &NtfEntityId, minutes: u16) -> StoreResult<()> {
        self.with_write(|tx| {
            not_found_if_zero(tx.execute(
                "UPDATE tokens SET cron_interval = ?1 WHERE token_id = ?2",
                &[Val::Int(i64::from(minutes)), Val::Bytes(id.as_bytes())],
            )?)
        })
    }

    fn update_token_cron_sent_at(&mut self, id: &NtfEntityId, now: i64) -> StoreResult<()> {
        self.with_write(|tx| {
            tx.execute(
                "UPDATE tokens SET cron_sent_at = ?1 WHERE token_id = ?2",
                &[Val::Int(now), Val::Bytes(id.as_bytes())],
            )?;
            Ok(())
        })
    }

    fn periodic_tokens(&self, now: i64, unsent_is_due: bool) -> StoreResult<Vec<TokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens \
             WHERE status = 'ACTIVE' AND cron_interval != 0 \
               AND ((cron_sent_at + cron_interval * 60) < ?1 OR (cron_sent_at IS NULL AND ?2)) \
             ORDER BY token_id"
        );
        self.with_read(|tx| {
            tx.query_vec(&sql, &[Val::Int(now), Val::Bool(unsent_is_due)], |r| {
                token_row(r, 0)?.into_record()
            })
        })
    }

    fn get_subscription(
        &self,
        id: &NtfEntityId,
    ) -> StoreResult<Option<(TokenRecord, SubscriptionRecord)>> {
        let sql = format!(
            "SELECT {T_TOKEN_COLUMNS}, {SUB_COLUMNS}, {SERVER_COLUMNS} FROM subscriptions s \
             JOIN tokens t ON t.token_id = s.token_id \
             JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
             WHERE s.subscription_id = ?1"
        );
        self.with_read(|tx| {
            tx.query_opt(&sql, &[Val::Bytes(id.as_bytes())], |r| {
                let server = server_row(r, 11 + SUB_COLUMN_COUNT)?.to_server()?;
                Ok((token_row(r, 0)?.into_record()?, sub_row(r, 11)?.into_record(server)?))
            })
        })
    }

    fn subscription_by_queue(
        &self,
        queue: &SmpQueueNtf,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        self.run(false, |tx, servers| {
            let Some(srv) = servers.id(tx, &queue.server)? else {
                return Ok(None);
            };
            tx.query_opt(
                &format!(
                    "SELECT {SUB_COLUMNS} FROM subscriptions s \
                     WHERE s.smp_server_id = ?1 AND s.smp_notifier_id = ?2"
                ),
                &[Val::Int(srv), Val::Bytes(queue.notifier_id())],
                |r| sub_row(r, 0)?.into_record(queue.server.clone()),
            )
        })
    }

    fn add_subscription(&mut self, sub: SubscriptionRecord) -> StoreResult<bool> {
        self.run(true, |tx, servers| {
            tx.query_opt(
                &format!("SELECT 1 FROM tokens WHERE token_id = ?1{}", B::FOR_UPDATE),
                &[Val::Bytes(sub.token_id.as_bytes())],
                |_| Ok(()),
            )?
            .ok_or(StoreError::NotFound)?;
            let srv = servers.upsert(tx, &sub.queue.server)?;
            insert_sub(tx, srv, &SubRow::new(&sub))
        })
    }

    fn delete_subscription(&mut self, id: &NtfEntityId) -> StoreResult<()> {
        self.with_write(|tx| {
            not_found_if_zero(tx.execute(
                "DELETE FROM subscriptions WHERE subscription_id = ?1",
                &[Val::Bytes(id.as_bytes())],
            )?)
        })
    }

    fn set_subscription_statuses(
        &mut self,
        server: &SmpServer,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<Vec<SubStatusChange>> {
        self.run(true, |tx, servers| match servers.id(tx, server)? {
            Some(srv) => B::set_statuses_returning(tx, srv, updates),
            None => Ok(Vec::new()),
        })
    }

    fn batch_subscription_statuses(
        &mut self,
        server: &SmpServer,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<usize> {
        self.run(true, |tx, servers| {
            let Some(srv) = servers.id(tx, server)? else {
                return Ok(0);
            };
            let n = B::set_statuses(tx, srv, updates)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn used_smp_servers(&self) -> StoreResult<Vec<SmpServer>> {
        let sql = format!(
            "SELECT p.smp_server_id, {SERVER_COLUMNS} FROM smp_servers p \
             WHERE EXISTS (SELECT 1 FROM subscriptions s \
               WHERE s.smp_server_id = p.smp_server_id AND s.status IN {SHOULD_SUBSCRIBE_SQL}) \
             ORDER BY p.smp_server_id"
        );
        self.run(false, |tx, servers| {
            let found = tx.query_vec(&sql, &[], |r| Ok((r.int(0)?, server_row(r, 1)?.to_server()?)))?;
            let mut out = Vec::with_capacity(found.len());
            for (id, srv) in found {
                servers.learned.push((srv.clone(), id));
                out.push(srv);
            }
            Ok(out)
        })
    }

    fn take_server_subscriptions(
        &mut self,
        server: &SmpServer,
        after: Option<&NtfEntityId>,
        limit_n: usize,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        self.run(true, |tx, servers| {
            let Some(srv) = servers.id(tx, server)? else {
                return Ok(Vec::new());
            };
            let found = server_page::<B>(tx, srv, "", after, limit_n)?;
            B::mark_pending(tx, srv, &found)?;
            pending_records(found, server)
        })
    }

    fn server_service(&self, server: &SmpServer) -> StoreResult<Option<ServerService>> {
        let sql = format!(
            "SELECT p.ntf_service_id, (SELECT COUNT(*) FROM subscriptions s \
               WHERE s.smp_server_id = p.smp_server_id AND s.ntf_service_assoc \
                 AND s.status IN {SHOULD_SUBSCRIBE_SQL}) \
             FROM smp_servers p WHERE p.smp_server_id = ?1"
        );
        self.run(false, |tx, servers| {
            let Some(srv) = servers.id(tx, server)? else {
                return Ok(None);
            };
            let row = tx.query_opt(&sql, &[Val::Int(srv)], |r| Ok((r.opt_bytes(0)?, r.int(1)?)))?;
            Ok(row.and_then(|(id, n)| {
                id.map(|service_id| ServerService { service_id, count: u64::try_from(n).unwrap_or(0) })
            }))
        })
    }

    fn set_service_subscriptions(
        &mut self,
        server: &SmpServer,
        service_id: &[u8],
        notifier_ids: &[Vec<u8>],
        status: NtfSubStatus,
    ) -> StoreResult<usize> {
        let status = rows::sub_status_text(&status);
        self.run(true, |tx, servers| {
            let Some(srv) = servers.id(tx, server)? else {
                return Ok(0);
            };
            tx.execute(
                "UPDATE smp_servers SET ntf_service_id = ?1 \
                 WHERE smp_server_id = ?2 AND (ntf_service_id IS NULL OR ntf_service_id != ?1)",
                &[Val::Bytes(service_id), Val::Int(srv)],
            )?;
            let mut params = Vec::with_capacity(notifier_ids.len() * 3);
            for nid in notifier_ids {
                params.extend([Val::Text(&status), Val::Int(srv), Val::Bytes(nid)]);
            }
            let n = tx.execute_rows(
                "UPDATE subscriptions SET status = ?1, ntf_service_assoc = TRUE \
                 WHERE smp_server_id = ?2 AND smp_notifier_id = ?3 \
                   AND (status != ?1 OR NOT ntf_service_assoc)",
                3,
                &params,
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn remove_service_association(&mut self, server: &SmpServer) -> StoreResult<Vec<SubStatusChange>> {
        let sql = format!(
            "UPDATE subscriptions SET ntf_service_assoc = FALSE, \
               status = CASE WHEN status IN {SHOULD_SUBSCRIBE_SQL} THEN 'INACTIVE' ELSE status END \
             WHERE smp_server_id = ?1 AND ntf_service_assoc \
             RETURNING subscription_id, status"
        );
        self.run(true, |tx, servers| {
            let Some(srv) = servers.id(tx, server)? else {
                return Ok(Vec::new());
            };
            tx.execute("UPDATE smp_servers SET ntf_service_id = NULL WHERE smp_server_id = ?1", &[Val::Int(srv)])?;
            tx.query_vec(&sql, &[Val::Int(srv)], |r| {
                Ok(SubStatusChange {
                    id: rows::entity_id(r.bytes(0)?, "subscription id")?,
                    status: rows::sub_status(&r.text(1)?)?,
                    service_assoc: false,
                })
            })
        })
    }

    fn add_last_notification(
        &mut self,
        token_id: &NtfEntityId,
        subscription_id: &NtfEntityId,
        ntf: PnMessageData,
        max: usize,
    ) -> StoreResult<Vec<PnMessageData>> {
        let ids = [Val::Bytes(token_id.as_bytes()), Val::Bytes(subscription_id.as_bytes())];
        self.with_write(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT 1 FROM tokens t JOIN subscriptions s ON s.subscription_id = ?2 \
                     WHERE t.token_id = ?1{}",
                    B::FOR_UPDATE
                ),
                &ids,
                |_| Ok(()),
            )?
            .ok_or(StoreError::NotFound)?;
            tx.execute(
                "DELETE FROM last_notifications WHERE token_id = ?1 AND subscription_id = ?2",
                &ids,
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO last_notifications \
                     (token_id, subscription_id, sent_at, nmsg_nonce, nmsg_data) \
                     VALUES (?1, ?2, {}, ?4, ?5)",
                    B::timestamp("?3")
                ),
                &[ids[0], ids[1], Val::Int(ntf.ts), Val::Bytes(&ntf.nonce), Val::Bytes(ntf.enc_meta())],
            )?;
            let sql = format!(
                "SELECT n.token_ntf_id, {}, n.nmsg_nonce, n.nmsg_data, \
                   s.smp_notifier_id, {SERVER_COLUMNS} \
                 FROM last_notifications n \
                 JOIN subscriptions s ON s.subscription_id = n.subscription_id \
                 JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
                 WHERE n.token_id = ?1 \
                 ORDER BY n.sent_at DESC, n.token_ntf_id DESC",
                B::epoch_seconds("n.sent_at")
            );
            type NtfRow = (i64, i64, Vec<u8>, Vec<u8>, Vec<u8>, ServerRow);
            let all: Vec<NtfRow> = tx.query_vec(&sql, &ids[..1], |r| {
                Ok((r.int(0)?, r.int(1)?, r.bytes(2)?, r.bytes(3)?, r.bytes(4)?, server_row(r, 5)?))
            })?;
            let keep = max.max(1);
            let stale: Vec<Val<'_>> = all.iter().skip(keep).map(|(id, ..)| Val::Int(*id)).collect();
            if !stale.is_empty() {
                tx.execute_rows("DELETE FROM last_notifications WHERE token_ntf_id = ?1", 1, &stale)?;
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
