//! The notification server's SMP subscriber (the reference's `ntfSubscriber` over
//! `SMPClientAgent`): one task per relay keeps a connection, subscribes queues with `NSUB` in
//! batches, turns `NMSG` / `END` / `DELD` and subscription results into core events, pings,
//! and reconnects with backoff, resubscribing everything after a relay restart or network cut.
//!
//! Inputs are the core's [`Effect::SmpSubscribe`] / [`Effect::SmpUnsubscribe`]; outputs are
//! [`SmpEvent`]s handed to a sink (the shell applies them to the core and runs the effects).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt as _;
use ntf_proto::queue::SmpQueueNtf;
use ref_client::smp::{subscribed, SmpClient, SmpClientConfig, SmpClientError};
use smp_proto::command::SmpCommand;
use smp_proto::broker::BrokerMsg;
use smp_proto::error_type::ErrorType;

use smp_proto::server::SmpServer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::ntf::{Effect, NotifierKey, SmpEvent, SmpSubError};

/// Where SMP events go: applied to the core, effects run. Returns when done.
pub type EventSink = Arc<dyn Fn(SmpEvent) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Subscriber settings.
#[derive(Clone, Debug)]
pub struct SubscriberConfig {
    /// How to connect to relays.
    pub client: SmpClientConfig,
    /// `NSUB`s per batch (the reference's `subsBatchSize`).
    pub batch_size: usize,
    /// Batches in flight at once on one relay connection, so that signing the next batch
    /// overlaps the relay verifying the previous one.
    pub pipeline: usize,
    /// Ping interval (the reference pings every 60 s).
    pub ping_interval: Duration,
    /// First reconnect delay; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
}

impl Default for SubscriberConfig {
    fn default() -> Self {
        Self {
            client: SmpClientConfig::default(),
            batch_size: 900,
            pipeline: 4,
            ping_interval: Duration::from_secs(60),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

enum RelayCmd {
    Subscribe(Vec<u8>, NotifierKey),
    Unsubscribe(Vec<u8>),
}

/// Starts the subscriber; send it the core's SMP effects.
pub fn start(config: SubscriberConfig, sink: EventSink) -> (mpsc::UnboundedSender<Effect>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Effect>();
    let task = tokio::spawn(async move {
        let mut relays: HashMap<SmpServer, mpsc::UnboundedSender<RelayCmd>> = HashMap::new();
        // dropping the set (when this task ends or is aborted) aborts every relay task
        let mut tasks = tokio::task::JoinSet::new();
        while let Some(effect) = rx.recv().await {
            let (server, cmd) = match effect {
                Effect::SmpSubscribe { queue, notifier_key, .. } => {
                    (queue.server.clone(), RelayCmd::Subscribe(queue.notifier_id().to_vec(), notifier_key))
                }
                Effect::SmpUnsubscribe { queue } => (queue.server.clone(), RelayCmd::Unsubscribe(queue.notifier_id().to_vec())),
                Effect::Push { .. } => continue,
            };
            let relay = relays.entry(server.clone()).or_insert_with(|| {
                let (rtx, rrx) = mpsc::unbounded_channel();
                tasks.spawn(relay_task(server, config.clone(), sink.clone(), rrx));
                rtx
            });
            let _ = relay.send(cmd);
        }
    });
    (tx, task)
}

/// The reference's `queueSubErrorStatus`: which subscription status an `NSUB` error gives.
fn sub_error(e: &SmpClientError) -> SmpSubError {
    match e {
        SmpClientError::Server(ErrorType::Auth) => SmpSubError::Auth,
        SmpClientError::Server(ErrorType::Service) => SmpSubError::Service,
        SmpClientError::Server(e) => SmpSubError::Other(e.to_string().into_bytes()),
        SmpClientError::UnexpectedResponse(r) => SmpSubError::Other(format!("unexpected response {}", r.tag()).into_bytes()),
        SmpClientError::BadResponse(t) => SmpSubError::Other(t.clone().into_bytes()),
        SmpClientError::Crypto(e) => SmpSubError::Other(format!("{e:?}").into_bytes()),
        _ => SmpSubError::Transient,
    }
}

/// One relay: connect, subscribe everything, serve events; on any connection failure report
/// the subscriptions disconnected, back off, and start over.
async fn relay_task(server: SmpServer, config: SubscriberConfig, sink: EventSink, mut cmds: mpsc::UnboundedReceiver<RelayCmd>) {
    let mut subs: HashMap<Vec<u8>, NotifierKey> = HashMap::new();
    let mut backoff = config.min_backoff;
    loop {
        // take commands that arrived while disconnected
        while let Ok(cmd) = cmds.try_recv() {
            apply(&mut subs, cmd);
        }
        let client = match SmpClient::connect(&server, &config.client).await {
            Ok(c) => {
                info!(relay = %server, "connected; subscribing {} queues", subs.len());
                backoff = config.min_backoff;
                c
            }
            Err(e) => {
                debug!(relay = %server, "connect failed: {e}; retrying in {backoff:?}");
                if wait_or_command(&mut cmds, &mut subs, backoff).await.is_none() {
                    return;
                }
                backoff = (backoff * 2).min(config.max_backoff);
                continue;
            }
        };
        // everything known is subscribed first; later subscribes join the queue
        let mut queued: VecDeque<Vec<u8>> = subs.keys().cloned().collect();
        let mut in_flight = FuturesUnordered::new();
        let mut ok = true;
        while ok {
            // keep `pipeline` NSUB batches in flight while subscribes are queued, so that
            // signing the next batches overlaps the relay verifying the sent ones
            while in_flight.len() < config.pipeline.max(1) && !queued.is_empty() {
                let n = queued.len().min(config.batch_size.max(1));
                let items: Vec<(Vec<u8>, NotifierKey)> =
                    queued.drain(..n).filter_map(|id| subs.get(&id).map(|k| (id, k.clone()))).collect();
                if !items.is_empty() {
                    in_flight.push(subscribe_batch(&client, &server, &sink, items));
                }
            }
            tokio::select! {
                Some(batch_ok) = in_flight.next(), if !in_flight.is_empty() => ok = batch_ok,
                cmd = cmds.recv() => match cmd {
                    None => return,
                    Some(cmd) => {
                        // take every command already queued
                        take(&mut subs, &mut queued, cmd);
                        while let Ok(cmd) = cmds.try_recv() {
                            take(&mut subs, &mut queued, cmd);
                        }
                    }
                },
                event = client.next_event_within(config.ping_interval) => match event {
                    Ok(e) => handle_event(&server, &sink, e).await,
                    Err(SmpClientError::Timeout) => {
                        if let Err(e) = client.ping().await {
                            warn!(relay = %server, "ping failed: {e}");
                            ok = false;
                        }
                    }
                    Err(e) => {
                        info!(relay = %server, "connection lost: {e}");
                        ok = false;
                    }
                },
            }
        }
        // the batches not answered yet are covered by the report below
        drop(in_flight);
        let ids: Vec<Vec<u8>> = subs.keys().cloned().collect();
        if !ids.is_empty() {
            sink(SmpEvent::Disconnected { server: server.clone(), notifier_ids: ids }).await;
        }
        drop(client);
        if wait_or_command(&mut cmds, &mut subs, backoff).await.is_none() {
            return;
        }
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

fn apply(subs: &mut HashMap<Vec<u8>, NotifierKey>, cmd: RelayCmd) {
    match cmd {
        RelayCmd::Subscribe(id, key) => {
            subs.insert(id, key);
        }
        RelayCmd::Unsubscribe(id) => {
            subs.remove(&id);
        }
    }
}

/// Sleeps `delay` while still taking commands; `None` when the subscriber is gone.
async fn wait_or_command(cmds: &mut mpsc::UnboundedReceiver<RelayCmd>, subs: &mut HashMap<Vec<u8>, NotifierKey>, delay: Duration) -> Option<()> {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return Some(()),
            cmd = cmds.recv() => apply(subs, cmd?),
        }
    }
}

/// A command while connected: a subscribe is queued for the next batch.
fn take(subs: &mut HashMap<Vec<u8>, NotifierKey>, queued: &mut VecDeque<Vec<u8>>, cmd: RelayCmd) {
    if let RelayCmd::Subscribe(id, _) = &cmd {
        queued.push_back(id.clone());
    }
    apply(subs, cmd);
}

/// One `NSUB` batch; `false` when the connection failed.
async fn subscribe_batch(
    client: &SmpClient,
    server: &SmpServer,
    sink: &EventSink,
    items: Vec<(Vec<u8>, NotifierKey)>,
) -> bool {
    let sent: Vec<Vec<u8>> = items.iter().map(|(id, _)| id.clone()).collect();
    sink(SmpEvent::Pending { server: server.clone(), notifier_ids: sent.clone() }).await;
    // signing a batch is the costly part: it runs on the blocking pool, so that the batches in
    // flight are signed on all cores while this task goes on
    let encoder = client.encoder();
    let signed = tokio::task::spawn_blocking(move || {
        items.iter().map(|(id, k)| encoder.encode_known(k.private(), k.ed25519_public(), id, &SmpCommand::Nsub)).collect::<Result<Vec<_>, _>>()
    })
    .await;
    let encoded = match signed {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            warn!(relay = %server, "NSUB batch not signed: {e}");
            return false;
        }
        Err(e) => {
            warn!(relay = %server, "NSUB batch signing failed: {e}");
            return false;
        }
    };
    let entities: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    let results = match client.send_encoded(encoded, &entities).await {
        Ok(r) => r.into_iter().map(subscribed).collect::<Vec<_>>(),
        Err(e) => {
            warn!(relay = %server, "NSUB batch not sent: {e}");
            return false;
        }
    };
    let mut active = Vec::new();
    let mut errors = Vec::new();
    let mut lost = false;
    for (id, r) in sent.into_iter().zip(results) {
        match r {
            Ok(()) => active.push(id),
            Err(e) => {
                lost |= matches!(e, SmpClientError::Closed | SmpClientError::Transport(_));
                errors.push((id, sub_error(&e)));
            }
        }
    }
    if !active.is_empty() {
        sink(SmpEvent::Subscribed { server: server.clone(), notifier_ids: active }).await;
    }
    if !errors.is_empty() {
        sink(SmpEvent::SubscriptionErrors { server: server.clone(), errors }).await;
    }
    !lost
}

/// `NMSG` / `END` / `DELD` for a notifier id.
async fn handle_event(server: &SmpServer, sink: &EventSink, e: ref_client::smp::SmpEvent) {
    let Some(queue) = SmpQueueNtf::new(server.clone(), e.entity_id.clone()) else { return };
    let event = match e.msg {
        Ok(BrokerMsg::Nmsg { nonce, enc_meta }) => SmpEvent::Message { queue, nonce, enc_meta },
        Ok(BrokerMsg::End) => SmpEvent::End { queue },
        Ok(BrokerMsg::Deld) => SmpEvent::Deleted { queue },
        Ok(other) => {
            debug!(relay = %server, "ignored {}", other.tag());
            return;
        }
        Err(why) => {
            warn!(relay = %server, "bad event: {why}");
            return;
        }
    };
    sink(event).await;
}
