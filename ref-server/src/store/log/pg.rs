//! A store log to and from PostgreSQL's `ntf_server` schema, as the reference's
//! `importNtfSTMStore` and `exportNtfDbStore` (`Notifications/Server/Store/Postgres.hs`).
//!
//! The schema is made by [`PgStore::open`] (the reference's migrations and ours); the rows are
//! written and read here with multi-row statements on a connection of our own.

use std::io::Write;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, NoTls, Row};
use ntf_proto::store_log::{LastNtfRecord, StoreLogRecord, SubRec, TokenRec};
use smp_proto::server::SmpServer;

use super::select::Selection;
use super::state::OrdServer;
use crate::store::rows::{self, ServerRow, SubRow, TokenRow};
use crate::store::{PgConfig, PgStore};

/// A PostgreSQL failure, with what was being done.
#[derive(Debug)]
pub struct PgError(pub String);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PgError {}

fn err(what: &str) -> impl Fn(::postgres::Error) -> PgError + '_ {
    move |e| {
        // the server's message, not only "db error"
        let detail = match (e.as_db_error(), std::error::Error::source(&e)) {
            (Some(d), _) => d.message().to_string(),
            (None, Some(src)) => format!("{e}: {src}"),
            (None, None) => e.to_string(),
        };
        PgError(format!("{what}: {detail}"))
    }
}

fn store_err(e: crate::ntf::StoreError) -> PgError {
    PgError(e.to_string())
}

/// Connects with `config.url`, the tables of `config.schema` first on the search path.
///
/// # Errors
/// Connection failures.
pub fn connect(config: &PgConfig) -> Result<Client, PgError> {
    let mut c = Client::connect(&config.url, NoTls).map_err(err("cannot connect to PostgreSQL"))?;
    c.batch_execute(&format!("SET search_path TO \"{}\"", config.schema.replace('"', "")))
        .map_err(err("cannot set the schema"))?;
    Ok(c)
}

/// Whether the schema exists (the reference's `checkSchemaExists`).
///
/// # Errors
/// Connection or query failures.
pub fn schema_exists(config: &PgConfig) -> Result<bool, PgError> {
    let mut c = Client::connect(&config.url, NoTls).map_err(err("cannot connect to PostgreSQL"))?;
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&config.schema],
        )
        .map_err(err("cannot check the schema"))?;
    row.try_get(0).map_err(err("cannot check the schema"))
}

/// How many rows an import wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Tokens.
    pub tokens: u64,
    /// SMP servers.
    pub servers: u64,
    /// Subscriptions.
    pub subscriptions: u64,
    /// Last notifications.
    pub last_notifications: u64,
    /// Service ids of SMP servers.
    pub services: u64,
}

const CHUNK: usize = 10_000;

/// Creates the schema (which must not exist) and writes the selection in one transaction.
/// When anything fails the schema is dropped again, so the import can be repeated.
///
/// # Errors
/// Database failures, including constraint violations of the data.
pub fn import(config: &PgConfig, sel: &Selection, progress: &mut dyn Write) -> Result<ImportCounts, PgError> {
    PgStore::open(config.clone()).map_err(store_err)?;
    let r = write_selection(config, sel, progress);
    if r.is_err() {
        if let Ok(mut c) = Client::connect(&config.url, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", config.schema));
        }
    }
    r
}

fn write_selection(config: &PgConfig, sel: &Selection, progress: &mut dyn Write) -> Result<ImportCounts, PgError> {
    let mut c = connect(config)?;
    let mut tx = c.transaction().map_err(err("cannot start a transaction"))?;
    let mut n = ImportCounts::default();
    for chunk in sel.tokens.chunks(CHUNK) {
        let rows: Vec<TokenRow> = chunk.iter().map(TokenRow::new).collect();
        let col = |f: fn(&TokenRow) -> Vec<u8>| rows.iter().map(f).collect::<Vec<_>>();
        let ids = col(|r| r.token_id.clone());
        let providers: Vec<String> = rows.iter().map(|r| r.push_provider.clone()).collect();
        let ptokens = col(|r| r.push_provider_token.clone());
        let statuses: Vec<String> = rows.iter().map(|r| r.status.clone()).collect();
        let vkeys = col(|r| r.verify_key.clone());
        let privs = col(|r| r.dh_priv_key.clone());
        let secrets = col(|r| r.dh_secret.clone());
        let codes = col(|r| r.reg_code.clone());
        let crons: Vec<i64> = rows.iter().map(|r| r.cron_interval).collect();
        let updated: Vec<Option<i64>> = rows.iter().map(|r| r.updated_at).collect();
        n.tokens += tx
            .execute(
                "INSERT INTO tokens (token_id, push_provider, push_provider_token, status, verify_key, \
                   dh_priv_key, dh_secret, reg_code, cron_interval, updated_at) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::bytea[], \
                   $6::bytea[], $7::bytea[], $8::bytea[], $9::bigint[], $10::bigint[])",
                &[&ids, &providers, &ptokens, &statuses, &vkeys, &privs, &secrets, &codes, &crons, &updated],
            )
            .map_err(err("cannot insert tokens"))?;
    }
    writeln!(progress, "Imported {} tokens.", n.tokens).ok();
    let mut server_ids = std::collections::HashMap::new();
    for s in &sel.servers {
        let r = ServerRow::new(s);
        let row = tx
            .query_one(
                "INSERT INTO smp_servers (smp_host, smp_port, smp_keyhash) VALUES ($1, $2, $3) \
                 RETURNING smp_server_id",
                &[&r.host, &r.port, &r.keyhash],
            )
            .map_err(err("cannot insert SMP servers"))?;
        let id: i64 = row.try_get(0).map_err(err("cannot insert SMP servers"))?;
        server_ids.insert(s.clone(), id);
        n.servers += 1;
    }
    writeln!(progress, "Imported {} servers.", n.servers).ok();
    writeln!(progress, "Importing {} subscriptions...", sel.subs.len()).ok();
    for chunk in sel.subs.chunks(CHUNK) {
        let rows: Vec<(i64, SubRow)> = chunk
            .iter()
            .map(|s| (server_ids.get(&s.queue.server).copied().unwrap_or_default(), SubRow::new(s)))
            .collect();
        let col = |f: fn(&SubRow) -> Vec<u8>| rows.iter().map(|(_, r)| f(r)).collect::<Vec<_>>();
        let tids = col(|r| r.token_id.clone());
        let srv: Vec<i64> = rows.iter().map(|(i, _)| *i).collect();
        let nids = col(|r| r.smp_notifier_id.clone());
        let sids = col(|r| r.subscription_id.clone());
        let keys = col(|r| r.smp_notifier_key.clone());
        let statuses: Vec<String> = rows.iter().map(|(_, r)| r.status.clone()).collect();
        let assoc: Vec<bool> = rows.iter().map(|(_, r)| r.ntf_service_assoc).collect();
        let pubs: Vec<Option<Vec<u8>>> = rows.iter().map(|(_, r)| r.smp_notifier_public_key.clone()).collect();
        n.subscriptions += tx
            .execute(
                "INSERT INTO subscriptions (token_id, smp_server_id, smp_notifier_id, subscription_id, \
                   smp_notifier_key, status, ntf_service_assoc, smp_notifier_public_key) \
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bytea[], \
                   $6::text[], $7::boolean[], $8::bytea[])",
                &[&tids, &srv, &nids, &sids, &keys, &statuses, &assoc, &pubs],
            )
            .map_err(err("cannot insert subscriptions"))?;
    }
    writeln!(progress, "Imported {} subscriptions.", n.subscriptions).ok();
    for chunk in sel.last_ntfs.chunks(CHUNK) {
        let tids: Vec<&[u8]> = chunk.iter().map(|(t, _, _)| t.as_bytes()).collect();
        let sids: Vec<&[u8]> = chunk.iter().map(|(_, s, _)| s.as_bytes()).collect();
        let ts: Vec<i64> = chunk.iter().map(|(_, _, m)| m.ts).collect();
        let nonces: Vec<&[u8]> = chunk.iter().map(|(_, _, m)| &m.nonce[..]).collect();
        let data: Vec<&[u8]> = chunk.iter().map(|(_, _, m)| m.enc_meta()).collect();
        // WITH ORDINALITY keeps the order of the arrays for the identity column
        n.last_notifications += tx
            .execute(
                "INSERT INTO last_notifications (token_id, subscription_id, sent_at, nmsg_nonce, nmsg_data) \
                 SELECT t, s, to_timestamp(ts), nn, nd \
                 FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bytea[], $5::bytea[]) \
                   WITH ORDINALITY AS u(t, s, ts, nn, nd, i) ORDER BY i",
                &[&tids, &sids, &ts, &nonces, &data],
            )
            .map_err(err("cannot insert last notifications"))?;
    }
    writeln!(progress, "Imported {} last notifications.", n.last_notifications).ok();
    for (srv, sid) in &sel.services {
        let r = ServerRow::new(srv);
        n.services += tx
            .execute(
                "INSERT INTO smp_servers (smp_host, smp_port, smp_keyhash, ntf_service_id) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (smp_host, smp_port, smp_keyhash) \
                 DO UPDATE SET ntf_service_id = EXCLUDED.ntf_service_id",
                &[&r.host, &r.port, &r.keyhash, &sid.as_bytes()],
            )
            .map_err(err("cannot insert service ids"))?;
    }
    tx.commit().map_err(err("cannot commit the import"))?;
    Ok(n)
}

/// How many records an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// Tokens.
    pub tokens: u64,
    /// Subscriptions.
    pub subscriptions: u64,
    /// Service ids of SMP servers.
    pub services: u64,
    /// Last notifications.
    pub last_notifications: u64,
}

fn bad(what: &str) -> PgError {
    PgError(format!("the database has a {what} that the store log cannot hold"))
}

fn token_rec(r: &Row) -> Result<TokenRec, PgError> {
    let e = err("cannot read tokens");
    let row = TokenRow {
        token_id: r.try_get(0).map_err(&e)?,
        push_provider: r.try_get(1).map_err(&e)?,
        push_provider_token: r.try_get(2).map_err(&e)?,
        status: r.try_get(3).map_err(&e)?,
        verify_key: r.try_get(4).map_err(&e)?,
        dh_priv_key: r.try_get(5).map_err(&e)?,
        dh_secret: r.try_get(6).map_err(&e)?,
        reg_code: r.try_get(7).map_err(&e)?,
        cron_interval: r.try_get(8).map_err(&e)?,
        cron_sent_at: None,
        updated_at: r.try_get(9).map_err(&e)?,
    };
    Ok(TokenRec::from(row.into_record().map_err(store_err)?))
}

fn server(r: &Row, at: usize, what: &str) -> Result<SmpServer, PgError> {
    let e = err(what);
    ServerRow {
        host: r.try_get(at).map_err(&e)?,
        port: r.try_get(at + 1).map_err(&e)?,
        keyhash: r.try_get(at + 2).map_err(&e)?,
    }
    .to_server()
    .map_err(store_err)
}

fn sub_rec(r: &Row) -> Result<SubRec, PgError> {
    let e = err("cannot read subscriptions");
    let row = SubRow {
        subscription_id: r.try_get(0).map_err(&e)?,
        token_id: r.try_get(1).map_err(&e)?,
        smp_notifier_id: r.try_get(2).map_err(&e)?,
        smp_notifier_key: r.try_get(3).map_err(&e)?,
        status: r.try_get(4).map_err(&e)?,
        ntf_service_assoc: r.try_get(5).map_err(&e)?,
        smp_notifier_public_key: None,
    };
    let s = row.into_record(server(r, 6, "cannot read subscriptions")?).map_err(store_err)?;
    Ok(SubRec::from(s))
}

fn line(out: &mut dyn Write, rec: &[u8]) -> Result<(), PgError> {
    out.write_all(rec)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| PgError(format!("cannot write: {e}")))
}

/// Writes the schema's tokens, subscriptions and service ids to `log` (a `TCREATE` per token
/// and an `SCREATE` per subscription in id order, then a `SERVICE` per server with a service
/// id, as a compacted store log) and its last notifications to `last_ntfs` (in the order
/// they were added, as the reference's `exportNtfDbStore`). Rows are streamed.
///
/// # Errors
/// Database and write failures, or a row the store log cannot hold.
pub fn export(config: &PgConfig, log: &mut dyn Write, last_ntfs: &mut dyn Write) -> Result<ExportCounts, PgError> {
    let mut c = connect(config)?;
    // one snapshot for the three files' worth of reads
    let mut tx = c
        .build_transaction()
        .isolation_level(::postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(err("cannot start a transaction"))?;
    let mut n = ExportCounts::default();
    let none: [&(dyn ::postgres::types::ToSql + Sync); 0] = [];
    let mut it = tx
        .query_raw(
            "SELECT token_id, push_provider, push_provider_token, status, verify_key, dh_priv_key, \
               dh_secret, reg_code, cron_interval, updated_at FROM tokens ORDER BY token_id",
            none,
        )
        .map_err(err("cannot read tokens"))?;
    while let Some(r) = it.next().map_err(err("cannot read tokens"))? {
        line(log, &StoreLogRecord::CreateToken(token_rec(&r)?).to_bytes())?;
        n.tokens += 1;
    }
    drop(it);
    let mut it = tx
        .query_raw(
            "SELECT s.subscription_id, s.token_id, s.smp_notifier_id, s.smp_notifier_key, s.status, \
               s.ntf_service_assoc, p.smp_host, p.smp_port, p.smp_keyhash \
             FROM subscriptions s JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
             ORDER BY s.subscription_id",
            none,
        )
        .map_err(err("cannot read subscriptions"))?;
    while let Some(r) = it.next().map_err(err("cannot read subscriptions"))? {
        line(log, &StoreLogRecord::CreateSubscription(sub_rec(&r)?).to_bytes())?;
        n.subscriptions += 1;
    }
    drop(it);
    let mut services = std::collections::BTreeMap::new();
    for r in tx
        .query(
            "SELECT smp_host, smp_port, smp_keyhash, ntf_service_id FROM smp_servers \
             WHERE ntf_service_id IS NOT NULL",
            &[],
        )
        .map_err(err("cannot read service ids"))?
    {
        let srv = server(&r, 0, "cannot read service ids")?;
        let sid: Vec<u8> = r.try_get(3).map_err(err("cannot read service ids"))?;
        let sid = ntf_proto::command::NtfEntityId::new(sid).ok_or_else(|| bad("service id"))?;
        services.insert(OrdServer(srv), sid);
    }
    for (srv, sid) in services {
        line(log, &StoreLogRecord::SetService(srv.0, Some(sid)).to_bytes())?;
        n.services += 1;
    }
    let mut it = tx
        .query_raw(
            "SELECT n.token_id, p.smp_host, p.smp_port, p.smp_keyhash, s.smp_notifier_id, \
               floor(extract(epoch FROM n.sent_at))::bigint, n.nmsg_nonce, n.nmsg_data \
             FROM last_notifications n \
             JOIN subscriptions s ON s.subscription_id = n.subscription_id \
             JOIN smp_servers p ON p.smp_server_id = s.smp_server_id \
             ORDER BY n.token_ntf_id ASC",
            none,
        )
        .map_err(err("cannot read last notifications"))?;
    while let Some(r) = it.next().map_err(err("cannot read last notifications"))? {
        let e = err("cannot read last notifications");
        let tid: Vec<u8> = r.try_get(0).map_err(&e)?;
        let srv = server(&r, 1, "cannot read last notifications")?;
        let q = rows::queue(srv, r.try_get(4).map_err(&e)?).map_err(store_err)?;
        let nonce: Vec<u8> = r.try_get(6).map_err(&e)?;
        let ntf = rows::last_notification(q, r.try_get(5).map_err(&e)?, &nonce, r.try_get(7).map_err(&e)?)
            .map_err(store_err)?;
        let token_id = ntf_proto::command::NtfEntityId::new(tid).ok_or_else(|| bad("token id"))?;
        line(last_ntfs, &LastNtfRecord { token_id, ntf }.to_bytes())?;
        n.last_notifications += 1;
    }
    drop(it);
    tx.commit().map_err(err("cannot finish reading"))?;
    Ok(n)
}
