//! The PostgreSQL [`Store`], on the reference's `ntf_server` schema.
//!
//! The tables, columns, indexes, value encodings and the migrations table (`migrations`:
//! name, ts, down) are the reference's, so a database the reference server wrote opens here as
//! it is, and the reference can still open it after this server ran (the one index this
//! backend adds, on `subscriptions(smp_server_id, subscription_id)`, is created with
//! `IF NOT EXISTS` at every start and not recorded as a migration).
//!
//! One connection (the synchronous `postgres` client), re-established when it was lost; every
//! mutating trait call is one transaction, committed (`synchronous_commit=on`, forced for the
//! session) before the call returns. Prepared statements are cached per connection.

use std::collections::{HashMap, HashSet};
use std::string::String;
use std::vec::Vec;

use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use ::postgres::{Client, GenericClient, NoTls, Row, Statement, Transaction};
use ntf_proto::subscription::NtfSubStatus;
use smp_proto::server::SmpServer;

use super::rows::{self, SubRow};
use super::sql::{set_statuses_by_row, set_statuses_returning_by_row, Backend, Conn, DbRow, SqlStore, Val};
use super::Migration;
use crate::ntf::{StoreError, StoreResult, SubStatusChange, SubscriptionRecord};

/// The reference's schema name.
pub const DEFAULT_SCHEMA: &str = "ntf_server";

/// Settings of a [`PgStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// The connection string (`postgresql://user@host:port/db` or `key=value` pairs).
    pub url: String,
    /// The schema of the tables (ASCII letters, digits and `_`; [`DEFAULT_SCHEMA`]).
    pub schema: String,
}

impl PgConfig {
    /// Settings for `url` with the reference's schema.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: DEFAULT_SCHEMA.into(),
        }
    }

    /// The same settings with another schema.
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the URL may hold a password
        f.debug_struct("PgConfig")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The reference's migrations (`Notifications/Server/Store/Migrations.hs`), with its down
/// migrations, recorded in its `migrations` table.
const MIGRATIONS: &[(Migration, Option<&str>)] = &[
    (
        Migration {
            name: "20250417_initial",
            sql: "
CREATE TABLE tokens(
  token_id BYTEA NOT NULL,
  push_provider TEXT NOT NULL,
  push_provider_token BYTEA NOT NULL,
  status TEXT NOT NULL,
  verify_key BYTEA NOT NULL,
  dh_priv_key BYTEA NOT NULL,
  dh_secret BYTEA NOT NULL,
  reg_code BYTEA NOT NULL,
  cron_interval BIGINT NOT NULL,
  cron_sent_at BIGINT,
  updated_at BIGINT,
  PRIMARY KEY (token_id)
);
CREATE UNIQUE INDEX idx_tokens_push_provider_token ON tokens(push_provider, push_provider_token, verify_key);
CREATE INDEX idx_tokens_status_cron_interval_sent_at ON tokens(status, cron_interval, (cron_sent_at + cron_interval * 60));
CREATE TABLE smp_servers(
  smp_server_id BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  smp_host TEXT NOT NULL,
  smp_port TEXT NOT NULL,
  smp_keyhash BYTEA NOT NULL
);
CREATE UNIQUE INDEX idx_smp_servers ON smp_servers(smp_host, smp_port, smp_keyhash);
CREATE TABLE subscriptions(
  subscription_id BYTEA NOT NULL,
  token_id BYTEA NOT NULL REFERENCES tokens ON DELETE CASCADE ON UPDATE RESTRICT,
  smp_server_id BIGINT REFERENCES smp_servers ON DELETE RESTRICT ON UPDATE RESTRICT,
  smp_notifier_id BYTEA NOT NULL,
  smp_notifier_key BYTEA NOT NULL,
  status TEXT NOT NULL,
  PRIMARY KEY (subscription_id)
);
CREATE UNIQUE INDEX idx_subscriptions_smp_server_id_notifier_id ON subscriptions(smp_server_id, smp_notifier_id);
CREATE INDEX idx_subscriptions_smp_server_id_status ON subscriptions(smp_server_id, status);
CREATE INDEX idx_subscriptions_token_id ON subscriptions(token_id);
CREATE TABLE last_notifications(
  token_ntf_id BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  token_id BYTEA NOT NULL REFERENCES tokens ON DELETE CASCADE ON UPDATE RESTRICT,
  subscription_id BYTEA NOT NULL REFERENCES subscriptions ON DELETE CASCADE ON UPDATE RESTRICT,
  sent_at TIMESTAMPTZ NOT NULL,
  nmsg_nonce BYTEA NOT NULL,
  nmsg_data BYTEA NOT NULL
);
CREATE INDEX idx_last_notifications_token_id_sent_at ON last_notifications(token_id, sent_at);
CREATE INDEX idx_last_notifications_subscription_id ON last_notifications(subscription_id);
CREATE UNIQUE INDEX idx_last_notifications_token_subscription ON last_notifications(token_id, subscription_id);
",
        },
        None,
    ),
    (
        Migration {
            name: "20250517_service_cert",
            sql: "
ALTER TABLE smp_servers ADD COLUMN ntf_service_id BYTEA;
ALTER TABLE subscriptions ADD COLUMN ntf_service_assoc BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX idx_subscriptions_smp_server_id_status;
CREATE INDEX idx_subscriptions_smp_server_id_ntf_service_status ON subscriptions(smp_server_id, ntf_service_assoc, status);
",
        },
        Some(
            "
DROP INDEX idx_subscriptions_smp_server_id_ntf_service_status;
CREATE INDEX idx_subscriptions_smp_server_id_status ON subscriptions(smp_server_id, status);
ALTER TABLE smp_servers DROP COLUMN ntf_service_id;
ALTER TABLE subscriptions DROP COLUMN ntf_service_assoc;
",
        ),
    ),
];

/// Subscription columns for a multi-row insert: token ids, server ids, notifier ids and
/// subscription ids.
type SubColumns = (Vec<Vec<u8>>, Vec<i64>, Vec<Vec<u8>>, Vec<Vec<u8>>);

/// The other columns of a multi-row insert: notifier keys, statuses, service associations
/// and notifier public keys.
type SubMoreColumns = (Vec<Vec<u8>>, Vec<String>, Vec<bool>, Vec<Option<Vec<u8>>>);

/// Ours, made at every start (idempotent) and not recorded in `migrations`, so that the table
/// of migrations stays the reference's: an index for paging a server's subscriptions, and
/// the notifier keys' Ed25519 public keys (NULL in rows written without it, then derived when
/// read; the reference names its columns, so it reads and writes the table as before).
///
/// Each is made only when missing (looked up in the catalog first): `CREATE INDEX` and
/// `ALTER TABLE ... IF NOT EXISTS` lock the table even when there is nothing to do, and an
/// instance starting next to running ones (several instances on one database) would then
/// deadlock with their writes to `subscriptions`.
const EXTRA_INDEXES: &str = "DO $$ BEGIN \
     IF to_regclass('idx_subscriptions_smp_server_id_subscription_id') IS NULL THEN \
       CREATE INDEX idx_subscriptions_smp_server_id_subscription_id ON subscriptions(smp_server_id, subscription_id); \
     END IF; \
     IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name = 'subscriptions' AND column_name = 'smp_notifier_public_key') THEN \
       ALTER TABLE subscriptions ADD COLUMN smp_notifier_public_key BYTEA; \
     END IF; \
     END $$; \
     CREATE TABLE IF NOT EXISTS ntf_leases (resource TEXT NOT NULL PRIMARY KEY, \
       owner TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL); \
     CREATE TABLE IF NOT EXISTS ntf_nmsg_journal (nmsg_id BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY, \
       run TEXT NOT NULL, smp_server TEXT NOT NULL, notifier_id BYTEA NOT NULL, \
       nmsg_nonce BYTEA NOT NULL, nmsg_data BYTEA NOT NULL, \
       received_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
     DO $$ BEGIN \
     IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name = 'ntf_nmsg_journal' AND column_name = 'pushing_at') THEN \
       ALTER TABLE ntf_nmsg_journal ADD COLUMN pushing_at TIMESTAMPTZ; \
     END IF; \
     END $$";

fn db(e: ::postgres::Error) -> StoreError {
    // the server's message (e.g. "deadlock detected"), not only "db error"
    match e.as_db_error() {
        Some(d) => StoreError::Backend(format!("postgres: {}", d.message())),
        None => StoreError::Backend(format!("postgres: {e}")),
    }
}

/// Maps a unique-key violation to `Duplicate` and a foreign-key violation to `NotFound`.
fn classify(e: ::postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Duplicate,
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound,
        _ => db(e),
    }
}

/// The SQL of the body's `?N` placeholders in PostgreSQL's `$N` form.
fn dollar_placeholders(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    for (i, c) in sql.char_indices() {
        if c == '?' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// A parameter as the PostgreSQL client takes it.
fn pg<'a>(v: &'a Val<'_>) -> &'a (dyn ToSql + Sync) {
    match v {
        Val::Int(v) => v,
        Val::OptInt(v) => v,
        Val::Bool(v) => v,
        Val::Text(v) => v,
        Val::Bytes(v) => v,
        Val::OptBytes(v) => v,
    }
}

super::sql::db_row!(Row, try_get, db);

/// The client calls used here, on a connection or a transaction.
trait Ops {
    fn prepare_sql(&mut self, sql: &str) -> Result<Statement, ::postgres::Error>;
    fn query_st(
        &mut self,
        st: &Statement,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ::postgres::Error>;
    fn execute_st(&mut self, st: &Statement, p: &[&(dyn ToSql + Sync)]) -> Result<u64, ::postgres::Error>;
    fn batch(&mut self, sql: &str) -> Result<(), ::postgres::Error>;
}

impl<C: GenericClient> Ops for C {
    fn prepare_sql(&mut self, sql: &str) -> Result<Statement, ::postgres::Error> {
        self.prepare(sql)
    }
    fn query_st(
        &mut self,
        st: &Statement,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ::postgres::Error> {
        self.query(st, p)
    }
    fn execute_st(&mut self, st: &Statement, p: &[&(dyn ToSql + Sync)]) -> Result<u64, ::postgres::Error> {
        self.execute(st, p)
    }
    fn batch(&mut self, sql: &str) -> Result<(), ::postgres::Error> {
        self.batch_execute(sql)
    }
}

struct PgConn {
    client: Client,
    /// Prepared statements by the SQL they were asked for.
    stmts: HashMap<String, Statement>,
}

/// The PostgreSQL [`Store`](crate::ntf::Store): the [one body](super::sql) on [`PgDb`].
pub type PgStore = SqlStore<PgDb>;

/// The PostgreSQL connection behind a [`PgStore`], re-established when it was lost.
pub struct PgDb {
    conn: Option<PgConn>,
    config: PgConfig,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // the synchronous client closes by blocking on its own runtime, which panics on a
        // thread of another tokio runtime (a store dropped by an async task): close it on a
        // thread of its own there
        if let Some(conn) = self.conn.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(conn));
            }
        }
    }
}

enum PgClient<'a> {
    Plain(&'a mut Client),
    Tx(Transaction<'a>),
}

/// The connection while a [`PgStore`] call runs (in its transaction, for a write), with the
/// connection's statement cache.
pub struct PgTx<'a> {
    client: PgClient<'a>,
    stmts: &'a mut HashMap<String, Statement>,
}

impl PgTx<'_> {
    fn ops(&mut self) -> &mut dyn Ops {
        match &mut self.client {
            PgClient::Plain(c) => *c,
            PgClient::Tx(t) => t,
        }
    }

    /// A prepared statement from the cache (`?N` placeholders turned into `$N`).
    fn prep(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(st) = self.stmts.get(sql) {
            return Ok(st.clone());
        }
        let st = self.ops().prepare_sql(&dollar_placeholders(sql)).map_err(db)?;
        self.stmts.insert(sql.into(), st.clone());
        Ok(st)
    }

    /// Runs a statement with the client's own parameter types (arrays).
    fn execute_pg(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let st = self.prep(sql)?;
        self.ops().execute_st(&st, params).map_err(classify)
    }

    /// Runs a query with the client's own parameter types (arrays).
    fn query_pg(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let st = self.prep(sql)?;
        self.ops().query_st(&st, params).map_err(classify)
    }
}

impl Conn for PgTx<'_> {
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        each: &mut dyn FnMut(&dyn DbRow) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let st = self.prep(sql)?;
        let p: Vec<_> = params.iter().map(pg).collect();
        for r in self.ops().query_st(&st, &p).map_err(classify)? {
            each(&r)?;
        }
        Ok(())
    }

    fn execute_rows(&mut self, sql: &str, width: usize, params: &[Val<'_>]) -> StoreResult<u64> {
        let st = self.prep(sql)?;
        if width == 0 {
            return self.ops().execute_st(&st, &[]).map_err(classify);
        }
        let mut n = 0;
        for row in params.chunks(width) {
            let p: Vec<_> = row.iter().map(pg).collect();
            n += self.ops().execute_st(&st, &p).map_err(classify)?;
        }
        Ok(n)
    }
}

impl Backend for PgDb {
    type Tx<'a> = PgTx<'a>;
    type Info = PgConfig;
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SUBS_BY_SERVER: &'static str = "subscriptions s";
    // `getEntityCounts`: the planner's estimate, not a scan (of the schema's own table; -1
    // before the first analysis counts as 0)
    const SUB_COUNT_SQL: &'static str =
        "SELECT reltuples::BIGINT FROM pg_class WHERE oid = 'subscriptions'::regclass";
    const MIGRATIONS_SQL: &'static str = "SELECT name FROM migrations ORDER BY name";

    fn run<T>(
        &mut self,
        write: bool,
        f: impl FnOnce(&mut PgTx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.conn = None;
            self.conn = Some(connect(&self.config)?);
        }
        let Some(PgConn { client, stmts }) = self.conn.as_mut() else {
            return Err(StoreError::Backend("postgres: no connection".into()));
        };
        if !write {
            return f(&mut PgTx {
                client: PgClient::Plain(client),
                stmts,
            });
        }
        let tx = client.transaction().map_err(db)?;
        let mut t = PgTx {
            client: PgClient::Tx(tx),
            stmts,
        };
        let v = f(&mut t)?;
        if let PgClient::Tx(tx) = t.client {
            tx.commit().map_err(db)?;
        }
        Ok(v)
    }

    fn timestamp(param: &str) -> String {
        format!("to_timestamp({param}::bigint)")
    }

    fn epoch_seconds(col: &str) -> String {
        format!("floor(extract(epoch FROM {col}))::bigint")
    }

    /// By the ids taken: other connections may add rows inside the range meanwhile.
    fn mark_pending(tx: &mut PgTx<'_>, _server_id: i64, taken: &[SubRow]) -> StoreResult<()> {
        let ids: Vec<&[u8]> = taken.iter().map(|s| s.subscription_id.as_slice()).collect();
        if !ids.is_empty() {
            tx.execute_pg(
                "UPDATE subscriptions SET status = 'PENDING' \
                 WHERE subscription_id = ANY($1) AND status != 'PENDING'",
                &[&ids],
            )?;
        }
        Ok(())
    }

    /// One statement when the notifier ids are distinct (a row is joined with one update at
    /// most), else row by row.
    fn set_statuses(
        tx: &mut PgTx<'_>,
        server_id: i64,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<u64> {
        let Some((nids, statuses)) = distinct_updates(updates) else {
            return set_statuses_by_row(tx, server_id, updates);
        };
        tx.execute_pg(
            "UPDATE subscriptions s SET status = u.status \
             FROM unnest($2::bytea[], $3::text[]) AS u(nid, status) \
             WHERE s.smp_server_id = $1 AND s.smp_notifier_id = u.nid \
               AND s.status != u.status",
            &[&server_id, &nids, &statuses],
        )
    }

    /// The statement of [`Backend::set_statuses`] with `RETURNING`, when the notifier ids are
    /// distinct; else row by row.
    fn set_statuses_returning(
        tx: &mut PgTx<'_>,
        server_id: i64,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<Vec<SubStatusChange>> {
        let Some((nids, statuses)) = distinct_updates(updates) else {
            return set_statuses_returning_by_row(tx, server_id, updates);
        };
        let found = tx.query_pg(
            "UPDATE subscriptions s SET status = u.status \
             FROM unnest($2::bytea[], $3::text[]) AS u(nid, status) \
             WHERE s.smp_server_id = $1 AND s.smp_notifier_id = u.nid \
               AND s.status != u.status \
             RETURNING s.subscription_id, s.status, s.ntf_service_assoc",
            &[&server_id, &nids, &statuses],
        )?;
        found
            .iter()
            .map(|r| {
                Ok(SubStatusChange {
                    id: rows::entity_id(r.bytes(0)?, "subscription id")?,
                    status: rows::sub_status(&r.text(1)?)?,
                    service_assoc: r.boolean(2)?,
                })
            })
            .collect()
    }

    /// Multi-row statements of 10,000 rows.
    fn insert_subs(
        tx: &mut PgTx<'_>,
        subs: &[SubscriptionRecord],
        server_id: &dyn Fn(&SmpServer) -> i64,
    ) -> StoreResult<usize> {
        let mut n = 0;
        for chunk in subs.chunks(10_000) {
            let mut cols: SubColumns = Default::default();
            let mut more: SubMoreColumns = Default::default();
            for s in chunk {
                let r = SubRow::new(s);
                cols.0.push(r.token_id);
                cols.1.push(server_id(&s.queue.server));
                cols.2.push(r.smp_notifier_id);
                cols.3.push(r.subscription_id);
                more.0.push(r.smp_notifier_key);
                more.1.push(r.status);
                more.2.push(r.ntf_service_assoc);
                more.3.push(r.smp_notifier_public_key);
            }
            let added = tx.execute_pg(
                "INSERT INTO subscriptions (token_id, smp_server_id, smp_notifier_id, \
                 subscription_id, smp_notifier_key, status, ntf_service_assoc, \
                 smp_notifier_public_key) \
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], \
                   $4::bytea[], $5::bytea[], $6::text[], $7::boolean[], $8::bytea[]) \
                 ON CONFLICT (smp_server_id, smp_notifier_id) DO NOTHING",
                &[
                    &cols.0, &cols.1, &cols.2, &cols.3, &more.0, &more.1, &more.2, &more.3,
                ],
            )?;
            n += usize::try_from(added).unwrap_or(usize::MAX);
        }
        Ok(n)
    }
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

fn connect(config: &PgConfig) -> StoreResult<PgConn> {
    let mut client = Client::connect(&config.url, NoTls).map_err(db)?;
    client
        .batch_execute(&format!(
            "SET synchronous_commit = on; SET search_path TO \"{}\"",
            config.schema
        ))
        .map_err(db)?;
    Ok(PgConn {
        client,
        stmts: HashMap::new(),
    })
}

fn migrate(config: &PgConfig, client: &mut Client) -> StoreResult<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\";
             CREATE TABLE IF NOT EXISTS migrations
               (name TEXT NOT NULL PRIMARY KEY, ts TIMESTAMP NOT NULL, down TEXT);",
            config.schema
        ))
        .map_err(db)?;
    let applied: HashSet<String> = client
        .query("SELECT name FROM migrations", &[])
        .map_err(db)?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<Result<_, _>>()
        .map_err(db)?;
    if let Some(unknown) = applied
        .iter()
        .find(|n| !MIGRATIONS.iter().any(|(m, _)| m.name == n.as_str()))
    {
        return Err(StoreError::Backend(format!(
            "postgres: the database has migration {unknown} unknown to this server"
        )));
    }
    for (m, down) in MIGRATIONS {
        if applied.contains(m.name) {
            continue;
        }
        let mut tx = client.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO migrations (name, down, ts) VALUES ($1, $2, now())",
            &[&m.name, down],
        )
        .map_err(db)?;
        tx.batch_execute(m.sql).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    client.batch_execute(EXTRA_INDEXES).map_err(db)
}


impl SqlStore<PgDb> {
    /// Connects, creates the schema when missing and applies the migrations.
    ///
    /// # Errors
    /// A bad schema name, connection failures, or a database with migrations this server
    /// does not know.
    pub fn open(config: PgConfig) -> StoreResult<Self> {
        if !valid_schema(&config.schema) {
            return Err(StoreError::Backend(format!(
                "postgres: bad schema name {:?}",
                config.schema
            )));
        }
        let mut conn = connect(&config)?;
        migrate(&config, &mut conn.client)?;
        let db = PgDb {
            conn: Some(conn),
            config: config.clone(),
        };
        Ok(Self::new(db, config))
    }

    /// The settings.
    pub fn config(&self) -> &PgConfig {
        self.info()
    }

    /// Claims or renews the leases on `resources` for `owner` until `ttl` after this
    /// transaction's start (the database's clock): a resource is taken when it has no lease,
    /// when its lease is `owner`'s, or when its lease expired. Returns the resources `owner`
    /// holds now. Ours (the table `ntf_leases`, made at start like our index), for several
    /// instances on one database (see `server::lease`).
    ///
    /// # Errors
    /// Backend failures (then nothing was claimed or renewed).
    pub fn claim_leases(
        &self,
        owner: &str,
        resources: &[String],
        ttl: std::time::Duration,
    ) -> StoreResult<Vec<String>> {
        self.claim_leases_next(owner, resources, ttl).map(|(held, _)| held)
    }

    /// [`claim_leases`](Self::claim_leases), and how long after this transaction's start the
    /// first lease another owner holds on one of `resources` expires (by the database's clock;
    /// `None` when there is none), so that the claimer can try again just then rather than at
    /// its next round.
    ///
    /// # Errors
    /// Backend failures (then nothing was claimed or renewed).
    pub fn claim_leases_next(
        &self,
        owner: &str,
        resources: &[String],
        ttl: std::time::Duration,
    ) -> StoreResult<(Vec<String>, Option<std::time::Duration>)> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.with_write(|tx| {
            let mut held = Vec::new();
            for r in resources {
                let got = tx.query_opt(
                    "INSERT INTO ntf_leases (resource, owner, expires_at) \
                     VALUES (?1, ?2, now() + ?3::bigint * interval '1 millisecond') \
                     ON CONFLICT (resource) DO UPDATE \
                     SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at \
                     WHERE ntf_leases.owner = EXCLUDED.owner OR ntf_leases.expires_at < now() \
                     RETURNING resource",
                    &[Val::Text(r), Val::Text(owner), Val::Int(ms)],
                    |row| row.text(0),
                )?;
                held.extend(got);
            }
            let mut next: Option<i64> = None;
            if held.len() < resources.len() {
                let names: Vec<&str> = resources.iter().map(String::as_str).collect();
                let st = tx.prep(
                    "SELECT ceil(extract(epoch FROM min(expires_at) - now()) * 1000)::bigint \
                     FROM ntf_leases WHERE resource = ANY(?1) AND owner <> ?2",
                )?;
                let rows = tx.ops().query_st(&st, &[&names, &owner]).map_err(db)?;
                next = rows.first().and_then(|r| r.try_get::<_, Option<i64>>(0).ok().flatten());
            }
            let next = next.map(|ms| std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
            Ok((held, next))
        })
    }

    /// Gives up `owner`'s leases on `resources` (all of them when `None`).
    ///
    /// # Errors
    /// Backend failures.
    pub fn release_leases(&self, owner: &str, resources: Option<&[String]>) -> StoreResult<()> {
        self.with_write(|tx| {
            match resources {
                None => {
                    tx.execute("DELETE FROM ntf_leases WHERE owner = ?1", &[Val::Text(owner)])?;
                }
                Some(rs) => {
                    let p: Vec<Val<'_>> = rs.iter().flat_map(|r| [Val::Text(owner), Val::Text(r)]).collect();
                    tx.execute_rows("DELETE FROM ntf_leases WHERE owner = ?1 AND resource = ?2", 2, &p)?;
                }
            }
            Ok(())
        })
    }

    /// Drops the schema with all its tables (for tests and administration).
    ///
    /// # Errors
    /// Backend failures.
    pub fn drop_schema(self) -> StoreResult<()> {
        let sql = format!("DROP SCHEMA \"{}\" CASCADE", self.config().schema);
        self.with_write(|tx| tx.ops().batch(&sql).map_err(db))
    }
}

/// The notifier ids and status texts of `updates` as arrays, when the ids are distinct (so
/// that a row is joined with one update at most).
fn distinct_updates(updates: &[(Vec<u8>, NtfSubStatus)]) -> Option<(Vec<&[u8]>, Vec<String>)> {
    let nids: Vec<&[u8]> = updates.iter().map(|(n, _)| n.as_slice()).collect();
    if nids.iter().collect::<HashSet<_>>().len() != nids.len() {
        return None;
    }
    Some((nids, updates.iter().map(|(_, s)| rows::sub_status_text(s)).collect()))
}
