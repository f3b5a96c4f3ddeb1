//! Several instances on one database: each relay's SMP events are applied one at a time in the
//! order they came, while the journal inserts of its `NMSG`s ([`super::journal`]) are in flight.
//!
//! Without this the relay's task waited for each `NMSG`'s insert to commit before it read the
//! next block, so the `NMSG`s of one relay never shared the journal writer's group commit, and
//! a backlog behind a slow database stayed in the socket (lost if the process dies) instead of
//! in the journal. Now an `NMSG` is handed to the journal's writer and queued; the relay's
//! task reads on. Each relay has one applier task that takes its queue in order: an `NMSG` is
//! applied once its insert has an answer (as before: handled only after its row committed, or
//! as without a journal when the database did not take it). Every other event (`END`, `DELD`,
//! the subscriber's `PENDING`, `ACTIVE`, disconnection and service events) goes through the
//! same queue and its caller waits until it was applied, so for the subscriber nothing changed
//! but that earlier `NMSG`s of the relay were applied first.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use smp_proto::server::SmpServer;
use tokio::sync::{mpsc, oneshot};

use crate::ntf::SmpEvent;

/// Applies an event to the core (and runs its effects); the `Option<i64>` is the journal row of
/// an `NMSG`.
pub type Apply = Arc<dyn Fn(SmpEvent, Option<i64>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// `NMSG`s queued per relay before the relay's task waits (its reads stop, as before).
pub const DEPTH: usize = 1024;

struct Item {
    event: SmpEvent,
    /// The journal insert's answer, for an `NMSG` handed to the writer.
    receipt: Option<oneshot::Receiver<Option<i64>>>,
    /// Told once the event was applied (every event but an `NMSG`).
    applied: Option<oneshot::Sender<()>>,
}

/// The per-relay queues of one process.
pub struct InOrder {
    apply: Apply,
    depth: usize,
    relays: Mutex<HashMap<SmpServer, mpsc::Sender<Item>>>,
}

impl std::fmt::Debug for InOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InOrder").field("depth", &self.depth).finish_non_exhaustive()
    }
}

impl InOrder {
    /// Queues of `depth` events, applied with `apply`.
    pub fn new(apply: Apply, depth: usize) -> Self {
        Self { apply, depth: depth.max(1), relays: Mutex::new(HashMap::new()) }
    }

    /// An `NMSG` of `server` whose insert was handed to the journal's writer (`receipt`):
    /// queued behind the relay's earlier events; returns once queued.
    pub async fn message(&self, server: &SmpServer, event: SmpEvent, receipt: oneshot::Receiver<Option<i64>>) {
        let item = Item { event, receipt: Some(receipt), applied: None };
        if let Err(mpsc::error::SendError(item)) = self.sender(server).send(item).await {
            // the applier is gone (only while the process stops): applied here
            apply_item(&self.apply, item).await;
        }
    }

    /// Any other event of `server` (or an `NMSG` that was not journaled): applied after the
    /// relay's earlier events; returns once applied.
    pub async fn other(&self, server: &SmpServer, event: SmpEvent) {
        let (tx, rx) = oneshot::channel();
        let item = Item { event, receipt: None, applied: Some(tx) };
        match self.sender(server).send(item).await {
            Ok(()) => {
                let _ = rx.await;
            }
            Err(mpsc::error::SendError(item)) => apply_item(&self.apply, item).await,
        }
    }

    /// The relay's queue; its applier task started on first use (it ends with this value).
    fn sender(&self, server: &SmpServer) -> mpsc::Sender<Item> {
        let mut relays = self.relays.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = relays.get(server) {
            return tx.clone();
        }
        let (tx, mut rx) = mpsc::channel::<Item>(self.depth);
        let apply = self.apply.clone();
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                apply_item(&apply, item).await;
            }
        });
        relays.insert(server.clone(), tx.clone());
        tx
    }
}

/// Applies `item` once its insert has an answer (if it has one to wait for), then tells its
/// caller (if it waits).
async fn apply_item(apply: &Apply, item: Item) {
    let receipt = match item.receipt {
        Some(r) => r.await.ok().flatten(),
        None => None,
    };
    apply(item.event, receipt).await;
    if let Some(done) = item.applied {
        let _ = done.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntf_proto::queue::SmpQueueNtf;
    use std::time::Duration;

    fn relay(port: u16) -> SmpServer {
        let text = format!("smp://{}@127.0.0.1:{port}", "A".repeat(43) + "=");
        SmpServer::parse_text(text.as_bytes()).unwrap()
    }

    fn nmsg(server: &SmpServer, n: u8) -> SmpEvent {
        SmpEvent::Message { queue: SmpQueueNtf::new(server.clone(), vec![n; 24]).unwrap(), nonce: [n; 24], enc_meta: vec![n] }
    }

    fn end(server: &SmpServer, n: u8) -> SmpEvent {
        SmpEvent::End { queue: SmpQueueNtf::new(server.clone(), vec![n; 24]).unwrap() }
    }

    fn tag(e: &SmpEvent) -> String {
        match e {
            SmpEvent::Message { queue, .. } => format!("NMSG {}", queue.notifier_id()[0]),
            SmpEvent::End { queue } => format!("END {}", queue.notifier_id()[0]),
            _ => "other".into(),
        }
    }

    /// A relay's events are applied in the order they came, each `NMSG` with its own receipt,
    /// even when the later inserts commit first; `other` returns only after the `NMSG`s ahead of
    /// it and itself were applied; `message` returns before its insert has an answer; another
    /// relay's events do not wait for this one's.
    #[tokio::test]
    async fn events_of_a_relay_applied_in_order_after_their_receipts() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = log.clone();
        let apply: Apply = Arc::new(move |e, r| {
            let l = l.clone();
            Box::pin(async move { l.lock().unwrap().push(format!("{} {r:?}", tag(&e))) })
        });
        let order = Arc::new(InOrder::new(apply, 16));
        let (a, b) = (relay(1), relay(2));
        let (tx1, rx1) = oneshot::channel();
        let (tx2, rx2) = oneshot::channel();
        order.message(&a, nmsg(&a, 1), rx1).await;
        order.message(&a, nmsg(&a, 2), rx2).await;
        // relay b is not held up by a's pending inserts
        order.other(&b, end(&b, 9)).await;
        assert_eq!(*log.lock().unwrap(), vec!["END 9 None".to_string()]);
        // a's END waits for both NMSGs ahead of it
        let o = order.clone();
        let a2 = a.clone();
        let ended = tokio::spawn(async move { o.other(&a2, end(&a2, 3)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!ended.is_finished(), "END applied before the NMSGs ahead of it");
        // the second insert commits first: still applied second
        tx2.send(Some(20)).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(log.lock().unwrap().len(), 1, "NMSG 2 applied before NMSG 1");
        // the first was not journaled (the database refused it): applied without a receipt
        tx1.send(None).unwrap();
        ended.await.unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            vec!["END 9 None", "NMSG 1 None", "NMSG 2 Some(20)", "END 3 None"].into_iter().map(String::from).collect::<Vec<_>>()
        );
    }
}
