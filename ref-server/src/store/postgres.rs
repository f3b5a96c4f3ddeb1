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
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

use ::postgres::error::SqlState;
use ::postgres::{Client, GenericClient, NoTls, Row, Statement, Transaction};
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
use super::{Migration, SHOULD_SUBSCRIBE_SQL};
use crate::ntf::{Store, StoreError, StoreResult, SubscriptionRecord, TokenRecord};

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
const EXTRA_INDEXES: &str = "CREATE INDEX IF NOT EXISTS \
     idx_subscriptions_smp_server_id_subscription_id ON subscriptions(smp_server_id, subscription_id); \
     ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS smp_notifier_public_key BYTEA";

fn db(e: ::postgres::Error) -> StoreError {
    StoreError::Backend(format!("postgres: {e}"))
}

fn is_code(e: &::postgres::Error, code: &SqlState) -> bool {
    e.code() == Some(code)
}

/// Maps a unique-key violation to `Duplicate`.
fn dup(e: ::postgres::Error) -> StoreError {
    if is_code(&e, &SqlState::UNIQUE_VIOLATION) {
        StoreError::Duplicate
    } else {
        db(e)
    }
}

fn token_row(r: &Row, at: usize) -> Result<TokenRow, ::postgres::Error> {
    Ok(TokenRow {
        token_id: r.try_get(at)?,
        push_provider: r.try_get(at + 1)?,
        push_provider_token: r.try_get(at + 2)?,
        status: r.try_get(at + 3)?,
        verify_key: r.try_get(at + 4)?,
        dh_priv_key: r.try_get(at + 5)?,
        dh_secret: r.try_get(at + 6)?,
        reg_code: r.try_get(at + 7)?,
        cron_interval: r.try_get(at + 8)?,
        cron_sent_at: r.try_get(at + 9)?,
        updated_at: r.try_get(at + 10)?,
    })
}

fn sub_row(r: &Row, at: usize) -> Result<SubRow, ::postgres::Error> {
    Ok(SubRow {
        subscription_id: r.try_get(at)?,
        token_id: r.try_get(at + 1)?,
        smp_notifier_id: r.try_get(at + 2)?,
        smp_notifier_key: r.try_get(at + 3)?,
        status: r.try_get(at + 4)?,
        ntf_service_assoc: r.try_get(at + 5)?,
        smp_notifier_public_key: r.try_get(at + 6)?,
    })
}

fn server_row(r: &Row, at: usize) -> Result<ServerRow, ::postgres::Error> {
    Ok(ServerRow {
        host: r.try_get(at)?,
        port: r.try_get(at + 1)?,
        keyhash: r.try_get(at + 2)?,
    })
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A prepared statement from the per-connection cache.
fn prep<C: GenericClient>(
    c: &mut C,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> StoreResult<Statement> {
    if let Some(st) = cache.get(sql) {
        return Ok(st.clone());
    }
    let st = c.prepare(sql).map_err(db)?;
    cache.insert(sql.into(), st.clone());
    Ok(st)
}

struct Conn {
    client: Client,
    stmts: HashMap<String, Statement>,
}

struct Inner {
    conn: Option<Conn>,
    /// SMP server ids known to be committed (servers are never deleted).
    servers: HashMap<SmpServer, i64>,
}

/// A transaction with the statement cache.
struct Tx<'a> {
    tx: Transaction<'a>,
    stmts: &'a mut HashMap<String, Statement>,
}

impl Tx<'_> {
    fn prep(&mut self, sql: &str) -> StoreResult<Statement> {
        prep(&mut self.tx, self.stmts, sql)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ::postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let st = self.prep(sql)?;
        self.tx.query(&st, params).map_err(db)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ::postgres::types::ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let st = self.prep(sql)?;
        self.tx.query_opt(&st, params).map_err(db)
    }

    fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ::postgres::types::ToSql + Sync)],
    ) -> Result<u64, ::postgres::Error> {
        let st = match self.prep(sql) {
            Ok(st) => st,
            // preparing failed: run it unprepared to get the typed error
            Err(_) => return self.tx.execute(sql, params),
        };
        self.tx.execute(&st, params)
    }
}

/// The PostgreSQL [`Store`].
pub struct PgStore {
    inner: Mutex<Inner>,
    config: PgConfig,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

fn connect(config: &PgConfig) -> StoreResult<Conn> {
    let mut client = Client::connect(&config.url, NoTls).map_err(db)?;
    client
        .batch_execute(&format!(
            "SET synchronous_commit = on; SET search_path TO \"{}\"",
            config.schema
        ))
        .map_err(db)?;
    Ok(Conn {
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

impl PgStore {
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
        Ok(Self {
            inner: Mutex::new(Inner {
                conn: Some(conn),
                servers: HashMap::new(),
            }),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &PgConfig {
        &self.config
    }

    /// The names of the applied migrations, oldest first.
    ///
    /// # Errors
    /// Backend failures.
    pub fn migrations(&self) -> StoreResult<Vec<String>> {
        self.read(|tx| {
            tx.query("SELECT name FROM migrations ORDER BY name", &[])?
                .iter()
                .map(|r| r.try_get(0).map_err(db))
                .collect()
        })
    }

    /// Numbers of tokens, subscriptions and last notifications.
    ///
    /// # Errors
    /// Backend failures.
    pub fn counts(&self) -> StoreResult<(u64, u64, u64)> {
        self.read(|tx| {
            let mut count = |table: &str| -> StoreResult<u64> {
                let row = tx.query_opt(&format!("SELECT count(1) FROM {table}"), &[])?;
                let n: i64 = row.map_or(Ok(0), |r| r.try_get(0)).map_err(db)?;
                Ok(u64::try_from(n).unwrap_or(0))
            };
            Ok((
                count("tokens")?,
                count("subscriptions")?,
                count("last_notifications")?,
            ))
        })
    }

    /// Drops the schema with all its tables (for tests and administration).
    ///
    /// # Errors
    /// Backend failures.
    pub fn drop_schema(self) -> StoreResult<()> {
        let schema = self.config.schema.clone();
        self.write(|tx| {
            tx.tx
                .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .map_err(db)
        })
    }

    /// Adds many subscriptions in one transaction (an import; the server adds them one by
    /// one with [`Store::add_subscription`]), in multi-row statements. Subscriptions whose
    /// queue already has one are skipped; returns how many were added.
    ///
    /// # Errors
    /// `NotFound` when a token is missing, `Duplicate` for a taken id; nothing is added then.
    pub fn import_subscriptions(&mut self, subs: &[SubscriptionRecord]) -> StoreResult<usize> {
        let mut servers: HashMap<SmpServer, i64> = HashMap::new();
        let n = self.write(|tx| {
            for s in subs {
                if !servers.contains_key(&s.queue.server) {
                    let id = upsert_server(tx, &s.queue.server)?;
                    servers.insert(s.queue.server.clone(), id);
                }
            }
            let mut n = 0;
            for chunk in subs.chunks(10_000) {
                let mut cols: SubColumns = Default::default();
                let mut more: SubMoreColumns = Default::default();
                for s in chunk {
                    let r = SubRow::new(s);
                    cols.0.push(r.token_id);
                    cols.1
                        .push(servers.get(&s.queue.server).copied().unwrap_or_default());
                    cols.2.push(r.smp_notifier_id);
                    cols.3.push(r.subscription_id);
                    more.0.push(r.smp_notifier_key);
                    more.1.push(r.status);
                    more.2.push(r.ntf_service_assoc);
                    more.3.push(r.smp_notifier_public_key);
                }
                let added = tx
                    .execute(
                        "INSERT INTO subscriptions (token_id, smp_server_id, smp_notifier_id, \
                         subscription_id, smp_notifier_key, status, ntf_service_assoc, \
                         smp_notifier_public_key) \
                         SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], \
                           $4::bytea[], $5::bytea[], $6::text[], $7::boolean[], $8::bytea[]) \
                         ON CONFLICT (smp_server_id, smp_notifier_id) DO NOTHING",
                        &[
                            &cols.0, &cols.1, &cols.2, &cols.3, &more.0, &more.1, &more.2,
                            &more.3,
                        ],
                    )
                    .map_err(|e| {
                        if is_code(&e, &SqlState::FOREIGN_KEY_VIOLATION) {
                            StoreError::NotFound
                        } else {
                            dup(e)
                        }
                    })?;
                n += usize::try_from(added).unwrap_or(usize::MAX);
            }
            Ok(n)
        })?;
        self.lock().servers.extend(servers);
        Ok(n)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding the lock left no open transaction (it rolled back on drop)
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in a transaction on the (re-established when lost) connection and commits.
    fn with_tx<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>, &mut HashMap<SmpServer, i64>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut g = self.lock();
        let inner = &mut *g;
        let lost = match &inner.conn {
            Some(c) => c.client.is_closed(),
            None => true,
        };
        if lost {
            inner.conn = None;
            inner.conn = Some(connect(&self.config)?);
        }
        let Some(conn) = inner.conn.as_mut() else {
            return Err(StoreError::Backend("postgres: no connection".into()));
        };
        let tx = conn.client.transaction().map_err(db)?;
        let mut t = Tx {
            tx,
            stmts: &mut conn.stmts,
        };
        let v = f(&mut t, &mut inner.servers)?;
        t.tx.commit().map_err(db)?;
        Ok(v)
    }

    fn write<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.with_tx(|tx, _| f(tx))
    }

    fn read<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.with_tx(|tx, _| f(tx))
    }

    fn get_token_where(
        &self,
        cond: &str,
        params: &[&(dyn ::postgres::types::ToSql + Sync)],
    ) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {cond}");
        let row = self.read(|tx| tx.query_opt(&sql, params))?;
        row.map(|r| token_row(&r, 0).map_err(db)?.into_record())
            .transpose()
    }
}

/// The id of a committed server, from the cache or the database.
fn server_id(
    tx: &mut Tx<'_>,
    servers: &mut HashMap<SmpServer, i64>,
    server: &SmpServer,
) -> StoreResult<Option<i64>> {
    if let Some(id) = servers.get(server) {
        return Ok(Some(*id));
    }
    let row = ServerRow::new(server);
    let found = tx.query_opt(
        "SELECT smp_server_id FROM smp_servers \
         WHERE smp_host = $1 AND smp_port = $2 AND smp_keyhash = $3",
        &[&row.host, &row.port, &row.keyhash],
    )?;
    let id: Option<i64> = found.map(|r| r.try_get(0)).transpose().map_err(db)?;
    if let Some(id) = id {
        servers.insert(server.clone(), id);
    }
    Ok(id)
}

fn upsert_server(tx: &mut Tx<'_>, server: &SmpServer) -> StoreResult<i64> {
    let row = ServerRow::new(server);
    let p: [&(dyn ::postgres::types::ToSql + Sync); 3] = [&row.host, &row.port, &row.keyhash];
    let found = tx.query_opt(
        "SELECT smp_server_id FROM smp_servers \
         WHERE smp_host = $1 AND smp_port = $2 AND smp_keyhash = $3",
        &p,
    )?;
    let r = match found {
        Some(r) => r,
        None => tx
            .query_opt(
                "INSERT INTO smp_servers (smp_host, smp_port, smp_keyhash) VALUES ($1, $2, $3) \
                 ON CONFLICT (smp_host, smp_port, smp_keyhash) \
                 DO UPDATE SET smp_host = EXCLUDED.smp_host \
                 RETURNING smp_server_id",
                &p,
            )?
            .ok_or_else(|| StoreError::Backend("postgres: SMP server not inserted".into()))?,
    };
    r.try_get(0).map_err(db)
}

/// The queues of the subscriptions selected by `cond` on `s` (joined with `t` and `p`).
fn queues_where(
    tx: &mut Tx<'_>,
    cond: &str,
    params: &[&(dyn ::postgres::types::ToSql + Sync)],
) -> StoreResult<Vec<SmpQueueNtf>> {
    let sql = format!(
        "SELECT {SERVER_COLUMNS}, s.smp_notifier_id FROM subscriptions s \
         JOIN tokens t ON t.token_id = s.token_id \
         JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
         WHERE {cond} ORDER BY t.token_id, s.subscription_id"
    );
    tx.query(&sql, params)?
        .iter()
        .map(|r| {
            let srv = server_row(r, 0).map_err(db)?.to_server()?;
            rows::queue(srv, r.try_get(3).map_err(db)?)
        })
        .collect()
}

fn not_found_if_zero(n: u64) -> StoreResult<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl Store for PgStore {
    fn get_token(&self, id: &NtfEntityId) -> StoreResult<Option<TokenRecord>> {
        self.get_token_where("token_id = $1", &[&id.as_bytes()])
    }

    fn find_token_registration(
        &self,
        token: &DeviceToken,
        verify_key: &AuthPublicKey,
    ) -> StoreResult<Option<TokenRecord>> {
        self.get_token_where(
            "push_provider = $1 AND push_provider_token = $2 AND verify_key = $3",
            &[
                &token.provider().name(),
                &token.token(),
                &verify_key.key().to_der(),
            ],
        )
    }

    fn touch_token(&mut self, id: &NtfEntityId, day: i64) -> StoreResult<()> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET updated_at = $1 WHERE token_id = $2",
                    &[&day, &id.as_bytes()],
                )
                .map_err(db)?;
            not_found_if_zero(n)
        })
    }

    fn add_token(&mut self, token: TokenRecord) -> StoreResult<()> {
        let r = TokenRow::new(&token);
        self.write(|tx| {
            tx.execute(
                &format!(
                    "INSERT INTO tokens ({TOKEN_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &[
                    &r.token_id,
                    &r.push_provider,
                    &r.push_provider_token,
                    &r.status,
                    &r.verify_key,
                    &r.dh_priv_key,
                    &r.dh_secret,
                    &r.reg_code,
                    &r.cron_interval,
                    &r.cron_sent_at,
                    &r.updated_at,
                ],
            )
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
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET push_provider = $1, push_provider_token = $2, status = $3, \
                     reg_code = $4 WHERE token_id = $5",
                    &[
                        &token.provider().name(),
                        &token.token(),
                        &rows::token_status_text(&status),
                        &reg_code.as_bytes(),
                        &id.as_bytes(),
                    ],
                )
                .map_err(dup)?;
            not_found_if_zero(n)
        })
    }

    fn update_token_status(&mut self, id: &NtfEntityId, status: NtfTknStatus) -> StoreResult<()> {
        let s = rows::token_status_text(&status);
        self.write(|tx| {
            tx.execute(
                "UPDATE tokens SET status = $1 WHERE token_id = $2 AND status != $1",
                &[&s, &id.as_bytes()],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn set_token_confirmed(&mut self, id: &NtfEntityId) -> StoreResult<bool> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET status = 'CONFIRMED' \
                     WHERE token_id = $1 AND status != 'CONFIRMED' AND status != 'ACTIVE'",
                    &[&id.as_bytes()],
                )
                .map_err(db)?;
            Ok(n > 0)
        })
    }

    fn set_token_active(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        self.write(|tx| {
            let row = tx
                .query_opt(
                    "SELECT push_provider, push_provider_token FROM tokens WHERE token_id = $1 \
                     FOR UPDATE",
                    &[&id.as_bytes()],
                )?
                .ok_or(StoreError::NotFound)?;
            let pp: String = row.try_get(0).map_err(db)?;
            let ppt: Vec<u8> = row.try_get(1).map_err(db)?;
            tx.execute(
                "UPDATE tokens SET status = 'ACTIVE' WHERE token_id = $1 AND status != 'ACTIVE'",
                &[&id.as_bytes()],
            )
            .map_err(db)?;
            let p: [&(dyn ::postgres::types::ToSql + Sync); 3] = [&pp, &ppt, &id.as_bytes()];
            let queues = queues_where(
                tx,
                "t.push_provider = $1 AND t.push_provider_token = $2 AND t.token_id != $3",
                &p,
            )?;
            tx.execute(
                "DELETE FROM tokens \
                 WHERE push_provider = $1 AND push_provider_token = $2 AND token_id != $3",
                &p,
            )
            .map_err(db)?;
            Ok(queues)
        })
    }

    fn delete_token(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        self.write(|tx| {
            tx.query_opt(
                "SELECT 1 FROM tokens WHERE token_id = $1 FOR UPDATE",
                &[&id.as_bytes()],
            )?
            .ok_or(StoreError::NotFound)?;
            let queues = queues_where(tx, "t.token_id = $1", &[&id.as_bytes()])?;
            let n = tx
                .execute("DELETE FROM tokens WHERE token_id = $1", &[&id.as_bytes()])
                .map_err(db)?;
            not_found_if_zero(n)?;
            Ok(queues)
        })
    }

    fn update_token_cron_interval(&mut self, id: &NtfEntityId, minutes: u16) -> StoreResult<()> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET cron_interval = $1 WHERE token_id = $2",
                    &[&i64::from(minutes), &id.as_bytes()],
                )
                .map_err(db)?;
            not_found_if_zero(n)
        })
    }

    fn update_token_cron_sent_at(&mut self, id: &NtfEntityId, now: i64) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE tokens SET cron_sent_at = $1 WHERE token_id = $2",
                &[&now, &id.as_bytes()],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn periodic_tokens(&self, now: i64, unsent_is_due: bool) -> StoreResult<Vec<TokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens \
             WHERE status = 'ACTIVE' AND cron_interval != 0 \
               AND ((cron_sent_at + cron_interval * 60) < $1 OR (cron_sent_at IS NULL AND $2)) \
             ORDER BY token_id"
        );
        let rows = self.read(|tx| tx.query(&sql, &[&now, &unsent_is_due]))?;
        rows.iter()
            .map(|r| token_row(r, 0).map_err(db)?.into_record())
            .collect()
    }

    fn get_subscription(
        &self,
        id: &NtfEntityId,
    ) -> StoreResult<Option<(TokenRecord, SubscriptionRecord)>> {
        let sql = format!(
            "SELECT {T_TOKEN_COLUMNS}, {SUB_COLUMNS}, {SERVER_COLUMNS} FROM subscriptions s \
             JOIN tokens t ON t.token_id = s.token_id \
             JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
             WHERE s.subscription_id = $1"
        );
        let Some(r) = self.read(|tx| tx.query_opt(&sql, &[&id.as_bytes()]))? else {
            return Ok(None);
        };
        let t = token_row(&r, 0).map_err(db)?.into_record()?;
        let p = server_row(&r, 11 + SUB_COLUMN_COUNT).map_err(db)?.to_server()?;
        let s = sub_row(&r, 11).map_err(db)?.into_record(p)?;
        Ok(Some((t, s)))
    }

    fn subscription_by_queue(
        &self,
        queue: &SmpQueueNtf,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let row = self.with_tx(|tx, servers| {
            let Some(srv) = server_id(tx, servers, &queue.server)? else {
                return Ok(None);
            };
            tx.query_opt(
                &format!(
                    "SELECT {SUB_COLUMNS} FROM subscriptions s \
                     WHERE s.smp_server_id = $1 AND s.smp_notifier_id = $2"
                ),
                &[&srv, &queue.notifier_id()],
            )
        })?;
        row.map(|r| {
            sub_row(&r, 0)
                .map_err(db)?
                .into_record(queue.server.clone())
        })
        .transpose()
    }

    fn add_subscription(&mut self, sub: SubscriptionRecord) -> StoreResult<bool> {
        let mut new_server = None;
        let added = self.with_tx(|tx, servers| {
            tx.query_opt(
                "SELECT 1 FROM tokens WHERE token_id = $1 FOR UPDATE",
                &[&sub.token_id.as_bytes()],
            )?
            .ok_or(StoreError::NotFound)?;
            if tx
                .query_opt(
                    "SELECT 1 FROM subscriptions WHERE subscription_id = $1",
                    &[&sub.id.as_bytes()],
                )?
                .is_some()
            {
                return Err(StoreError::Duplicate);
            }
            let srv = match servers.get(&sub.queue.server) {
                Some(id) => *id,
                None => {
                    let id = upsert_server(tx, &sub.queue.server)?;
                    new_server = Some(id);
                    id
                }
            };
            let r = SubRow::new(&sub);
            let n = tx
                .execute(
                    "INSERT INTO subscriptions (token_id, smp_server_id, smp_notifier_id, \
                     subscription_id, smp_notifier_key, status, ntf_service_assoc, \
                     smp_notifier_public_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (smp_server_id, smp_notifier_id) DO NOTHING",
                    &[
                        &r.token_id,
                        &srv,
                        &r.smp_notifier_id,
                        &r.subscription_id,
                        &r.smp_notifier_key,
                        &r.status,
                        &r.ntf_service_assoc,
                        &r.smp_notifier_public_key,
                    ],
                )
                .map_err(dup)?;
            Ok(n > 0)
        })?;
        if let Some(id) = new_server {
            self.lock().servers.insert(sub.queue.server, id);
        }
        Ok(added)
    }

    fn delete_subscription(&mut self, id: &NtfEntityId) -> StoreResult<()> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "DELETE FROM subscriptions WHERE subscription_id = $1",
                    &[&id.as_bytes()],
                )
                .map_err(db)?;
            not_found_if_zero(n)
        })
    }

    fn set_subscription_statuses(
        &mut self,
        server: &SmpServer,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<usize> {
        self.with_tx(|tx, servers| {
            let Some(srv) = server_id(tx, servers, server)? else {
                return Ok(0);
            };
            let distinct = updates
                .iter()
                .map(|(n, _)| n.as_slice())
                .collect::<HashSet<_>>()
                .len()
                == updates.len();
            let statuses: Vec<String> = updates
                .iter()
                .map(|(_, s)| rows::sub_status_text(s))
                .collect();
            let n = if distinct {
                // one statement: a row is joined with one update at most
                let nids: Vec<&[u8]> = updates.iter().map(|(n, _)| n.as_slice()).collect();
                tx.execute(
                    "UPDATE subscriptions s SET status = u.status \
                     FROM unnest($2::bytea[], $3::text[]) AS u(nid, status) \
                     WHERE s.smp_server_id = $1 AND s.smp_notifier_id = u.nid \
                       AND s.status != u.status",
                    &[&srv, &nids, &statuses],
                )
                .map_err(db)?
            } else {
                let mut n = 0;
                for ((nid, _), status) in updates.iter().zip(&statuses) {
                    n += tx
                        .execute(
                            "UPDATE subscriptions SET status = $1 \
                             WHERE smp_server_id = $2 AND smp_notifier_id = $3 AND status != $1",
                            &[status, &srv, nid],
                        )
                        .map_err(db)?;
                }
                n
            };
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
        self.with_tx(|tx, servers| {
            let mut out = Vec::new();
            for r in tx.query(&sql, &[])? {
                let id: i64 = r.try_get(0).map_err(db)?;
                let srv = server_row(&r, 1).map_err(db)?.to_server()?;
                servers.insert(srv.clone(), id);
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
        let base = format!(
            "SELECT {SUB_COLUMNS} FROM subscriptions s \
             WHERE s.smp_server_id = $1 AND NOT s.ntf_service_assoc \
               AND s.status IN {SHOULD_SUBSCRIBE_SQL}"
        );
        let found = self.with_tx(|tx, servers| {
            let Some(srv) = server_id(tx, servers, server)? else {
                return Ok(Vec::new());
            };
            let rows = match after {
                None => tx.query(
                    &format!("{base} ORDER BY s.subscription_id LIMIT $2"),
                    &[&srv, &limit(limit_n)],
                )?,
                Some(a) => tx.query(
                    &format!(
                        "{base} AND s.subscription_id > $3 ORDER BY s.subscription_id LIMIT $2"
                    ),
                    &[&srv, &limit(limit_n), &a.as_bytes()],
                )?,
            };
            let found: Vec<SubRow> = rows
                .iter()
                .map(|r| sub_row(r, 0))
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let ids: Vec<&[u8]> = found.iter().map(|s| s.subscription_id.as_slice()).collect();
            if !ids.is_empty() {
                tx.execute(
                    "UPDATE subscriptions SET status = 'PENDING' \
                     WHERE subscription_id = ANY($1) AND status != 'PENDING'",
                    &[&ids],
                )
                .map_err(db)?;
            }
            Ok(found)
        })?;
        found
            .into_iter()
            .map(|row| {
                let mut rec = row.into_record(server.clone())?;
                rec.status = NtfSubStatus::Pending;
                Ok(rec)
            })
            .collect()
    }

    fn add_last_notification(
        &mut self,
        token_id: &NtfEntityId,
        subscription_id: &NtfEntityId,
        ntf: PnMessageData,
        max: usize,
    ) -> StoreResult<Vec<PnMessageData>> {
        let (tid, sid) = (token_id.as_bytes(), subscription_id.as_bytes());
        self.write(|tx| {
            let found = tx
                .query_opt(
                    "SELECT 1 FROM tokens t JOIN subscriptions s ON s.subscription_id = $2 \
                     WHERE t.token_id = $1 FOR UPDATE OF t, s",
                    &[&tid, &sid],
                )?
                .is_some();
            if !found {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "DELETE FROM last_notifications WHERE token_id = $1 AND subscription_id = $2",
                &[&tid, &sid],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO last_notifications \
                 (token_id, subscription_id, sent_at, nmsg_nonce, nmsg_data) \
                 VALUES ($1, $2, to_timestamp($3::bigint), $4, $5)",
                &[&tid, &sid, &ntf.ts, &&ntf.nonce[..], &ntf.enc_meta()],
            )
            .map_err(db)?;
            let all = tx.query(
                &format!(
                    "SELECT n.token_ntf_id, floor(extract(epoch FROM n.sent_at))::bigint, \
                       n.nmsg_nonce, n.nmsg_data, s.smp_notifier_id, {SERVER_COLUMNS} \
                     FROM last_notifications n \
                     JOIN subscriptions s ON s.subscription_id = n.subscription_id \
                     JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
                     WHERE n.token_id = $1 \
                     ORDER BY n.sent_at DESC, n.token_ntf_id DESC"
                ),
                &[&tid],
            )?;
            let keep = max.max(1);
            let stale: Vec<i64> = all
                .iter()
                .skip(keep)
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(db)?;
            if !stale.is_empty() {
                tx.execute(
                    "DELETE FROM last_notifications WHERE token_ntf_id = ANY($1)",
                    &[&stale],
                )
                .map_err(db)?;
            }
            let mut out = Vec::with_capacity(keep.min(all.len()));
            for r in all.iter().take(keep).rev() {
                let sent_at: i64 = r.try_get(1).map_err(db)?;
                let nonce: Vec<u8> = r.try_get(2).map_err(db)?;
                let data: Vec<u8> = r.try_get(3).map_err(db)?;
                let nid: Vec<u8> = r.try_get(4).map_err(db)?;
                let srv = server_row(r, 5).map_err(db)?.to_server()?;
                out.push(rows::last_notification(
                    rows::queue(srv, nid)?,
                    sent_at,
                    &nonce,
                    data,
                )?);
            }
            Ok(out)
        })
    }
}
