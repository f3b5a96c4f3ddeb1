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

use tokio::sync::mpsc;
use tracing::warn;

use crate::ntf::{SmpEvent, StoreResult};
use crate::store::journal::run_resource;
use crate::store::{PgConfig, PgStore};

/// The journal of this process (its run id and a connection of its own, opened when first
/// used, so that neither the core nor the lease renewals wait behind it).
pub struct Journal {
    run: String,
    config: PgConfig,
    db: Mutex<Option<PgStore>>,
    done: mpsc::UnboundedSender<i64>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("run", &self.run).finish_non_exhaustive()
    }
}

impl Journal {
    /// The journal of run `run` on `config`'s database, and the task that deletes the rows
    /// whose handling ended (a batch per wake-up: what arrived meanwhile goes in one
    /// transaction).
    pub fn start(run: String, config: PgConfig) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (done, mut rx) = mpsc::unbounded_channel::<i64>();
        let j = Arc::new(Self { run, config, db: Mutex::new(None), done });
        let weak = Arc::downgrade(&j);
        let task = tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                let mut ids = vec![id];
                while let Ok(i) = rx.try_recv() {
                    ids.push(i);
                }
                let Some(j) = weak.upgrade() else { return };
                if let Err(e) = tokio::task::block_in_place(|| j.with(|db| db.journal_done(&ids))) {
                    warn!("journal: {} rows not deleted (handled again if this process dies): {e:?}", ids.len());
                }
            }
        });
        (j, task)
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

    /// Writes an `NMSG` before it is handled; its row id, or `None` for another event or when
    /// the database did not take it (then handled as without a journal). Blocking.
    pub fn record(&self, event: &SmpEvent) -> Option<i64> {
        let SmpEvent::Message { queue, nonce, enc_meta } = event else { return None };
        match self.with(|db| db.journal_nmsg(&self.run, &queue.server, queue.notifier_id(), nonce, enc_meta)) {
            Ok(id) => Some(id),
            Err(e) => {
                warn!(relay = %queue.server, "NMSG not journaled (lost if this process dies before its push): {e:?}");
                None
            }
        }
    }

    /// Marks journaled `NMSG` `id`'s push as started, before it is sent; `false` (logged) when
    /// the database did not take the mark. Blocking.
    pub fn pushing(&self, id: i64) -> bool {
        match self.with(|db| db.journal_pushing(id)) {
            Ok(()) => true,
            Err(e) => {
                warn!("journal: push of NMSG {id} not marked as started: {e:?}");
                false
            }
        }
    }

    /// The handling of journaled `NMSG` `id` ended: its row goes.
    pub fn done(&self, id: i64) {
        let _ = self.done.send(id);
    }
}
