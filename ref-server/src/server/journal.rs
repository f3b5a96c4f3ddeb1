//! Several instances on one database: every `NMSG` is written to the store's journal
//! ([`crate::store::journal`]) before it is handled, and its row deleted once the push it
//! caused has an outcome (delivered, failed, or refused for an invalid token) or it caused
//! none. The rows of a process that died are handled again by the instance holding `cron`
//! (see [`super::lease`]): what was received and whose push had not started is pushed then;
//! a row whose push had started (marked before the request went to the provider) may have
//! been delivered, so it is not pushed again: it is recorded as a push of unknown outcome
//! (logged with its reason and counted), never pushed twice.

use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::ntf::{SmpEvent, StoreResult};
use crate::store::journal::{run_resource, NewNmsg};
use crate::store::{PgConfig, PgStore};

/// At most this many operations go in one of the writer's transactions.
const BATCH: usize = 512;

/// What the journal's writer does: every operation that arrived while it was busy goes in one
/// transaction, so that under load the inserts, push marks and deletions of many `NMSG`s
/// (from all relays and push tasks of this process) share a commit.
enum Op {
    Record(NewNmsg, oneshot::Sender<Option<i64>>),
    Pushing(i64, oneshot::Sender<bool>),
    Done(i64),
}

/// The journal of this process (its run id and a connection of its own, opened when first
/// used, so that neither the core nor the lease renewals wait behind it).
pub struct Journal {
    run: String,
    config: PgConfig,
    db: Mutex<Option<PgStore>>,
    ops: mpsc::UnboundedSender<Op>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("run", &self.run).finish_non_exhaustive()
    }
}

impl Journal {
    /// The journal of run `run` on `config`'s database, and its writer task (a transaction per
    /// wake-up with what arrived meanwhile, a group commit).
    pub fn start(run: String, config: PgConfig) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (ops, mut rx) = mpsc::unbounded_channel::<Op>();
        let j = Arc::new(Self { run, config, db: Mutex::new(None), ops });
        let weak = Arc::downgrade(&j);
        let task = tokio::spawn(async move {
            while let Some(op) = rx.recv().await {
                let mut batch = vec![op];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                let Some(j) = weak.upgrade() else { return };
                tokio::task::block_in_place(|| j.write(batch));
            }
        });
        (j, task)
    }

    /// One transaction for `batch`, then each operation's answer: when it fails, nothing was
    /// journaled (handled as without a journal), no mark was taken and no row deleted.
    fn write(&self, batch: Vec<Op>) {
        let (mut records, mut record_replies, mut pushing, mut mark_replies, mut done) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for op in batch {
            match op {
                Op::Record(r, reply) => {
                    records.push(r);
                    record_replies.push(reply);
                }
                Op::Pushing(id, reply) => {
                    pushing.push(id);
                    mark_replies.push(reply);
                }
                Op::Done(id) => done.push(id),
            }
        }
        match self.with(|db| db.journal_batch(&self.run, &records, &pushing, &done)) {
            Ok(ids) => {
                for (reply, id) in record_replies.into_iter().zip(ids) {
                    let _ = reply.send(Some(id));
                }
                for reply in mark_replies {
                    let _ = reply.send(true);
                }
            }
            Err(e) => {
                for (reply, r) in record_replies.into_iter().zip(&records) {
                    warn!(relay = %r.server, "NMSG not journaled (lost if this process dies before its push): {e:?}");
                    let _ = reply.send(None);
                }
                for (reply, id) in mark_replies.into_iter().zip(&pushing) {
                    warn!("journal: push of NMSG {id} not marked as started: {e:?}");
                    let _ = reply.send(false);
                }
                if !done.is_empty() {
                    warn!("journal: {} rows not deleted (handled again if this process dies): {e:?}", done.len());
                }
            }
        }
    }

    /// This process's run id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The lease resource that says this run is alive.
    pub fn resource(&self) -> String {
        run_resource(&self.run)
    }

    /// Runs `f` on the journal's connection (opened when missing). Blocking.
    fn with<T>(&self, f: impl FnOnce(&PgStore) -> StoreResult<T>) -> StoreResult<T> {
        let mut db = self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if db.is_none() {
            *db = Some(PgStore::open(self.config.clone())?);
        }
        db.as_ref().map_or_else(|| Err(crate::ntf::StoreError::Backend("journal: no connection".into())), f)
    }

    /// Hands an `NMSG`'s insert to the writer, to be written before the `NMSG` is handled; the
    /// receiver gets its row id once committed, or `None` when the database did not take it
    /// (logged; then handled as without a journal). `None` for another event or when the writer
    /// is gone.
    pub fn submit(&self, event: &SmpEvent) -> Option<oneshot::Receiver<Option<i64>>> {
        let SmpEvent::Message { queue, nonce, enc_meta } = event else { return None };
        let rec = NewNmsg { server: queue.server.clone(), notifier_id: queue.notifier_id().to_vec(), nonce: nonce.to_vec(), enc_meta: enc_meta.clone() };
        let (tx, rx) = oneshot::channel();
        self.ops.send(Op::Record(rec, tx)).ok()?;
        Some(rx)
    }

    /// Marks journaled `NMSG` `id`'s push as started, before it is sent; `true` once committed,
    /// `false` (logged) when the database did not take the mark.
    pub async fn pushing(&self, id: i64) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.ops.send(Op::Pushing(id, tx)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// The handling of journaled `NMSG` `id` ended: its row goes.
    pub fn done(&self, id: i64) {
        let _ = self.ops.send(Op::Done(id));
    }
}
