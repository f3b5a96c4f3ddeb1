//! The `NMSG` journal of several instances on one PostgreSQL database (ours, the table
//! `ntf_nmsg_journal`, made at start like `ntf_leases`; see `spec/scale-out.md`).
//!
//! An instance writes each `NMSG` it receives here before handling it, under its run id (one
//! per process start), and deletes the row once the push it caused has an outcome (or it
//! caused none). A row whose run no longer holds its `run <id>` lease belongs to a process
//! that died (or was cut off and has stopped) before that: the owner of the `cron` lease takes
//! it over ([`SqlStore::take_orphaned_nmsgs`]) and handles the `NMSG` again.

use std::string::String;
use std::vec::Vec;

use smp_proto::server::SmpServer;

use super::postgres::PgDb;
use super::sql::{Conn, SqlStore, Val};
use crate::ntf::{StoreError, StoreResult};

/// One journaled `NMSG`, taken over from a process that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournaledNmsg {
    /// The row's id (the receipt the push carries).
    pub id: i64,
    /// What was journaled.
    pub nmsg: NewNmsg,
    /// Its push had been started ([`SqlStore::journal_pushing`]) by the process that ended: it
    /// may have been delivered, so it is not pushed again.
    pub push_started: bool,
}

/// An `NMSG` as journaled: what [`SqlStore::journal_batch`] inserts and a takeover reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNmsg {
    /// The relay.
    pub server: SmpServer,
    /// The queue's notifier id.
    pub notifier_id: Vec<u8>,
    /// The `NMSG` nonce.
    pub nonce: Vec<u8>,
    /// The encrypted metadata.
    pub enc_meta: Vec<u8>,
}

/// The lease resource that says run `run` is alive.
pub fn run_resource(run: &str) -> String {
    format!("run {run}")
}

impl SqlStore<PgDb> {
    /// Records an `NMSG` received by run `run`; returns its id.
    ///
    /// # Errors
    /// Backend failures.
    pub fn journal_nmsg(&self, run: &str, server: &SmpServer, notifier_id: &[u8], nonce: &[u8], enc_meta: &[u8]) -> StoreResult<i64> {
        let rec = NewNmsg { server: server.clone(), notifier_id: notifier_id.to_vec(), nonce: nonce.to_vec(), enc_meta: enc_meta.to_vec() };
        let ids = self.journal_batch(run, core::slice::from_ref(&rec), &[], &[])?;
        ids.first().copied().ok_or_else(|| StoreError::Backend("postgres: journal insert returned nothing".into()))
    }

    /// The push caused by journaled `NMSG` `id` is about to be sent (committed before the
    /// request goes to the provider): when this process ends before the row's deletion, the
    /// outcome is unknown and the `NMSG` is not pushed again ([`JournaledNmsg::push_started`]).
    ///
    /// # Errors
    /// Backend failures.
    pub fn journal_pushing(&self, id: i64) -> StoreResult<()> {
        self.journal_batch("", &[], &[id], &[]).map(|_| ())
    }

    /// Deletes journaled `NMSG`s whose handling ended.
    ///
    /// # Errors
    /// Backend failures.
    pub fn journal_done(&self, ids: &[i64]) -> StoreResult<()> {
        self.journal_batch("", &[], &[], ids).map(|_| ())
    }

    /// One transaction (one commit) for what a journal's writer collected meanwhile: inserts
    /// `records` for run `run` (their ids, in order), marks `pushing` as started
    /// ([`Self::journal_pushing`]) and deletes `done` ([`Self::journal_done`]). All or nothing.
    ///
    /// # Errors
    /// Backend failures (then none of it happened).
    pub fn journal_batch(&self, run: &str, records: &[NewNmsg], pushing: &[i64], done: &[i64]) -> StoreResult<Vec<i64>> {
        self.with_write(|tx| {
            let mut ids = Vec::with_capacity(records.len());
            for r in records {
                let srv = String::from_utf8_lossy(&r.server.to_text()).into_owned();
                let id = tx
                    .query_opt(
                        "INSERT INTO ntf_nmsg_journal (run, smp_server, notifier_id, nmsg_nonce, nmsg_data) \
                         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING nmsg_id",
                        &[Val::Text(run), Val::Text(&srv), Val::Bytes(&r.notifier_id), Val::Bytes(&r.nonce), Val::Bytes(&r.enc_meta)],
                        |row| row.int(0),
                    )?
                    .ok_or_else(|| StoreError::Backend("postgres: journal insert returned nothing".into()))?;
                ids.push(id);
            }
            if !pushing.is_empty() {
                let p: Vec<Val<'_>> = pushing.iter().map(|i| Val::Int(*i)).collect();
                tx.execute_rows("UPDATE ntf_nmsg_journal SET pushing_at = now() WHERE nmsg_id = ?1", 1, &p)?;
            }
            if !done.is_empty() {
                let p: Vec<Val<'_>> = done.iter().map(|i| Val::Int(*i)).collect();
                tx.execute_rows("DELETE FROM ntf_nmsg_journal WHERE nmsg_id = ?1", 1, &p)?;
            }
            Ok(ids)
        })
    }

    /// Takes up to `limit` journaled `NMSG`s of runs that hold no live `run` lease (oldest
    /// first) for run `run`, which handles them again. A row whose relay text does not parse is
    /// deleted (it cannot be handled).
    ///
    /// # Errors
    /// Backend failures.
    pub fn take_orphaned_nmsgs(&self, run: &str, limit: usize) -> StoreResult<Vec<JournaledNmsg>> {
        let n = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with_write(|tx| {
            tx.query_vec(
                "UPDATE ntf_nmsg_journal SET run = ?1 WHERE nmsg_id IN ( \
                   SELECT j.nmsg_id FROM ntf_nmsg_journal j WHERE j.run <> ?1 AND NOT EXISTS ( \
                     SELECT 1 FROM ntf_leases l WHERE l.resource = 'run ' || j.run AND l.expires_at >= now()) \
                   ORDER BY j.nmsg_id LIMIT ?2 FOR UPDATE SKIP LOCKED) \
                 RETURNING nmsg_id, smp_server, notifier_id, nmsg_nonce, nmsg_data, pushing_at IS NOT NULL",
                &[Val::Text(run), Val::Int(n)],
                |r| Ok((r.int(0)?, r.text(1)?, r.bytes(2)?, r.bytes(3)?, r.bytes(4)?, r.boolean(5)?)),
            )
        })?;
        let mut out = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for (id, srv, notifier_id, nonce, enc_meta, push_started) in rows {
            match SmpServer::parse_text(srv.as_bytes()) {
                Ok(server) => out.push(JournaledNmsg { id, nmsg: NewNmsg { server, notifier_id, nonce, enc_meta }, push_started }),
                Err(_) => bad.push(id),
            }
        }
        if !bad.is_empty() {
            self.journal_done(&bad)?;
        }
        out.sort_by_key(|j| j.id);
        Ok(out)
    }
}
