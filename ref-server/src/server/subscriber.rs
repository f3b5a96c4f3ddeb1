//! The notification server's SMP subscriber (the reference's `ntfSubscriber` over
//! `SMPClientAgent`): one task per relay keeps a connection, subscribes queues with `NSUB` in
//! batches, turns `NMSG` / `END` / `DELD` and subscription results into core events, pings,
//! and reconnects with backoff, resubscribing everything after a relay restart or network cut.
//!
//! Inputs are the core's [`Effect::SmpSubscribe`] / [`Effect::SmpUnsubscribe`] /
//! [`Effect::SmpSubscribeService`]; outputs are [`SmpEvent`]s handed to a sink (the shell applies
//! them to the core and runs the effects).
//!
//! Service subscriptions (SMP v16+, when the connection config carries service credentials and
//! the relay accepted them, `smpSubscribeService` / `smpSubscribeQueues` in the reference's
//! `Client/Agent.hs`): on each connection that is a service session and while the relay is
//! known to hold associated queues, one `NSUBS` is sent once the `NSUB`s of the queues known at
//! connecting are answered and before any later `NSUB` (so neither a crash between a relay's
//! `SOK` and its store write nor this session's later `NSUB`s skew the count), and its `SOKS`
//! count is reported ([`SmpEvent::ServiceSubscribed`]; the core compares it with the store). A
//! connection that is not a service session (no credentials, a relay below v16) reports
//! [`SmpEvent::ServiceUnavailable`] instead, as does an `ERR` to `NSUBS`. `NSUB` in a service
//! session is signed by the service too; a `SOK` with the service id reports the queues
//! [`SmpEvent::ServiceAssociated`] and they leave this task's per-queue set (the service
//! subscription covers them from then on). A lost service session reports
//! [`SmpEvent::ServiceDisconnected`]; `ENDS` reports [`SmpEvent::ServiceEnded`].

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
    /// A queue, its key, and whether the store has it PENDING already.
    Subscribe(Vec<u8>, NotifierKey, bool),
    Unsubscribe(Vec<u8>),
    /// The relay holds queues associated with the service: `NSUBS` on connecting.
    Service,
}

/// Starts the subscriber; send it the core's SMP effects.
pub fn start(config: SubscriberConfig, sink: EventSink) -> (mpsc::UnboundedSender<Effect>, JoinHandle<()>) {
    let (_none, releases) = mpsc::unbounded_channel();
    start_with_releases(config, sink, releases)
}

/// [`start`], and a relay named on `releases` is let go: its task ends at once, closing its
/// connection (an instance that lost the relay's lease, see [`super::lease`]). A later
/// subscribe for it starts a new task.
pub fn start_with_releases(
    config: SubscriberConfig,
    sink: EventSink,
    mut releases: mpsc::UnboundedReceiver<SmpServer>,
) -> (mpsc::UnboundedSender<Effect>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Effect>();
    let task = tokio::spawn(async move {
        let mut relays: HashMap<SmpServer, (mpsc::UnboundedSender<RelayCmd>, tokio::task::AbortHandle)> = HashMap::new();
        // dropping the set (when this task ends or is aborted) aborts every relay task
        let mut tasks = tokio::task::JoinSet::new();
        let mut releasing = true;
        loop {
            let effect = tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => e,
                    None => break,
                },
                r = releases.recv(), if releasing => {
                    match r {
                        Some(server) => {
                            if let Some((_, task)) = relays.remove(&server) {
                                info!(relay = %server, "released");
                                task.abort();
                            }
                        }
                        None => releasing = false,
                    }
                    continue;
                }
            };
            // reap the relay tasks that ended
            while tasks.try_join_next().is_some() {}
            let (server, cmd) = match effect {
                Effect::SmpSubscribe { queue, notifier_key, pending, .. } => {
                    (queue.server.clone(), RelayCmd::Subscribe(queue.notifier_id().to_vec(), notifier_key, pending))
                }
                Effect::SmpUnsubscribe { queue } => (queue.server.clone(), RelayCmd::Unsubscribe(queue.notifier_id().to_vec())),
                Effect::SmpSubscribeService { server, .. } => (server, RelayCmd::Service),
                // the shell pages these out of the store as `SmpSubscribe`s
                Effect::Push { .. } | Effect::SmpResubscribe { .. } => continue,
            };
            let relay = relays.entry(server.clone()).or_insert_with(|| {
                let (rtx, rrx) = mpsc::unbounded_channel();
                let task = tasks.spawn(relay_task(server, config.clone(), sink.clone(), rrx));
                (rtx, task)
            });
            let _ = relay.0.send(cmd);
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
    let mut subs = RelaySubs::default();
    let mut backoff = config.min_backoff;
    loop {
        // take commands that arrived while disconnected
        while let Ok(cmd) = cmds.try_recv() {
            subs.apply(cmd);
        }
        let client = match SmpClient::connect(&server, &config.client).await {
            Ok(c) => {
                info!(relay = %server, "connected; subscribing {} queues", subs.queues.len());
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
        let session_service = service_id(&client);
        let mut ok = true;
        // NSUBS once the subscriptions known at connecting are answered (after a crash, the
        // queues whose SOK was not stored yet are among them, so the relay's count and the
        // store's agree), and before any later NSUB (so that its count is not raced)
        let mut service_pending = false;
        if subs.service {
            service_pending = session_service.is_some();
            if !service_pending {
                service_unavailable(&server, &sink, &mut subs).await;
            }
        }
        let mut initial: VecDeque<Vec<u8>> = subs.queues.keys().cloned().collect();
        let mut queued: VecDeque<Vec<u8>> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        // NSUBs that timed out, sent again after `min_backoff` on this connection (the
        // reference's `reconnectClient` after a temporary error keeps them pending and its
        // worker subscribes the pending queues again on the connected client)
        let mut retry: Vec<Vec<u8>> = Vec::new();
        let retry_sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(retry_sleep);
        while ok {
            // keep `pipeline` NSUB batches in flight while subscribes are queued, so that
            // signing the next batches overlaps the relay verifying the sent ones
            while in_flight.len() < config.pipeline.max(1) {
                let source = if !initial.is_empty() {
                    &mut initial
                } else if !service_pending && !queued.is_empty() {
                    &mut queued
                } else {
                    break;
                };
                let n = source.len().min(config.batch_size.max(1));
                let items: Vec<(Vec<u8>, NotifierKey)> =
                    source.drain(..n).filter_map(|id| subs.queues.get(&id).map(|k| (id, k.clone()))).collect();
                // PENDING in the store already: the first NSUB of a queue taken from the store
                let announce: Vec<Vec<u8>> = items.iter().filter(|(id, _)| !subs.stored_pending.remove(id)).map(|(id, _)| id.clone()).collect();
                if !items.is_empty() {
                    in_flight.push(subscribe_batch(&client, &server, &sink, items, announce));
                }
            }
            if service_pending && initial.is_empty() && in_flight.is_empty() {
                service_pending = false;
                ok = subscribe_service(&client, &server, &sink, session_service.as_deref().unwrap_or_default(), &mut subs).await;
                continue;
            }
            tokio::select! {
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let BatchDone { ok: batch_ok, associated, timed_out } = done;
                    ok = batch_ok;
                    if !timed_out.is_empty() {
                        if retry.is_empty() {
                            retry_sleep.as_mut().reset(tokio::time::Instant::now() + config.min_backoff);
                        }
                        retry.extend(timed_out);
                    }
                    // the service subscription covers these from now on
                    if !associated.is_empty() {
                        subs.service = true;
                        for id in &associated {
                            subs.queues.remove(id);
                        }
                    }
                }
                () = &mut retry_sleep, if !retry.is_empty() => {
                    // still wanted (not unsubscribed, not covered by the service meanwhile)
                    let again: Vec<Vec<u8>> = retry.drain(..).filter(|id| subs.queues.contains_key(id)).collect();
                    info!(relay = %server, "subscribing {} queues again after NSUB timeouts", again.len());
                    queued.extend(again);
                }
                cmd = cmds.recv() => match cmd {
                    None => return,
                    Some(cmd) => {
                        // take every command already queued
                        let mut service = subs.take(&mut queued, cmd);
                        while let Ok(cmd) = cmds.try_recv() {
                            service |= subs.take(&mut queued, cmd);
                        }
                        // the service subscription asked for while connected (at start, after
                        // the connection was made for a new subscription)
                        if service {
                            if session_service.is_some() {
                                service_pending = true;
                                // NSUBS after the NSUBs of everything taken before
                                initial.extend(queued.drain(..));
                            } else {
                                service_unavailable(&server, &sink, &mut subs).await;
                            }
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
        let ids: Vec<Vec<u8>> = subs.queues.keys().cloned().collect();
        // INACTIVE now: PENDING again on the next connection's NSUB
        subs.stored_pending.clear();
        if !ids.is_empty() {
            sink(SmpEvent::Disconnected { server: server.clone(), notifier_ids: ids }).await;
        }
        if subs.service && session_service.is_some() {
            sink(SmpEvent::ServiceDisconnected { server: server.clone() }).await;
        }
        drop(client);
        if wait_or_command(&mut cmds, &mut subs, backoff).await.is_none() {
            return;
        }
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

/// What one relay task subscribes.
#[derive(Default)]
struct RelaySubs {
    /// Queues subscribed one by one (`NSUB`) on each connection.
    queues: HashMap<Vec<u8>, NotifierKey>,
    /// The relay holds queues associated with the service: `NSUBS` on each service session.
    service: bool,
    /// Queues not sent yet that the store has PENDING already (no [`SmpEvent::Pending`]).
    stored_pending: std::collections::HashSet<Vec<u8>>,
}

impl RelaySubs {
    fn apply(&mut self, cmd: RelayCmd) {
        match cmd {
            RelayCmd::Subscribe(id, key, pending) => {
                if pending {
                    self.stored_pending.insert(id.clone());
                } else {
                    self.stored_pending.remove(&id);
                }
                self.queues.insert(id, key);
            }
            RelayCmd::Unsubscribe(id) => {
                self.stored_pending.remove(&id);
                self.queues.remove(&id);
            }
            RelayCmd::Service => self.service = true,
        }
    }

    /// A command while connected: a subscribe is queued for the next batch; `true` for a
    /// service subscription.
    fn take(&mut self, queued: &mut VecDeque<Vec<u8>>, cmd: RelayCmd) -> bool {
        let service = matches!(cmd, RelayCmd::Service);
        if let RelayCmd::Subscribe(id, ..) = &cmd {
            queued.push_back(id.clone());
        }
        self.apply(cmd);
        service
    }
}

/// Sleeps `delay` while still taking commands; `None` when the subscriber is gone.
async fn wait_or_command(cmds: &mut mpsc::UnboundedReceiver<RelayCmd>, subs: &mut RelaySubs, delay: Duration) -> Option<()> {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return Some(()),
            cmd = cmds.recv() => subs.apply(cmd?),
        }
    }
}

/// The service id of a service session (`smpClientService`).
fn service_id(client: &SmpClient) -> Option<Vec<u8>> {
    client.service().map(|s| s.service_id.clone())
}

/// The associated queues cannot be subscribed on this session (no service session:
/// `smpSubscribeService`'s `notifyUnavailable`): the core subscribes them one by one.
async fn service_unavailable(server: &SmpServer, sink: &EventSink, subs: &mut RelaySubs) {
    info!(relay = %server, "not a service session: associated queues are subscribed one by one");
    subs.service = false;
    sink(SmpEvent::ServiceUnavailable { server: server.clone() }).await;
}

/// `NSUBS` on a service session (`smpSubscribeService`); `false` when the connection failed.
async fn subscribe_service(client: &SmpClient, server: &SmpServer, sink: &EventSink, service_id: &[u8], subs: &mut RelaySubs) -> bool {
    match client.subscribe_service_notifications().await {
        Ok(count) => {
            info!(relay = %server, "service subscribed: SOKS {count}");
            let count = u64::try_from(count).unwrap_or(0);
            sink(SmpEvent::ServiceSubscribed { server: server.clone(), service_id: service_id.to_vec(), count }).await;
            true
        }
        Err(e @ (SmpClientError::Closed | SmpClientError::Transport(_) | SmpClientError::Timeout)) => {
            info!(relay = %server, "NSUBS: connection lost: {e}");
            false
        }
        Err(e) => {
            warn!(relay = %server, "NSUBS failed: {e}; associated queues are subscribed one by one");
            subs.service = false;
            sink(SmpEvent::ServiceUnavailable { server: server.clone() }).await;
            true
        }
    }
}

/// The outcome of one `NSUB` batch.
struct BatchDone {
    /// `false` when the connection failed.
    ok: bool,
    /// Queues the relay associated with the service (`SOK` with the service id).
    associated: Vec<Vec<u8>>,
    /// Queues whose `NSUB` timed out (`temporaryClientError`): still pending, to be sent again.
    timed_out: Vec<Vec<u8>>,
}

/// One `NSUB` batch; `announce`: the queues of it to report PENDING first.
async fn subscribe_batch(
    client: &SmpClient,
    server: &SmpServer,
    sink: &EventSink,
    items: Vec<(Vec<u8>, NotifierKey)>,
    announce: Vec<Vec<u8>>,
) -> BatchDone {
    let failed = BatchDone { ok: false, associated: Vec::new(), timed_out: Vec::new() };
    let sent: Vec<Vec<u8>> = items.iter().map(|(id, _)| id.clone()).collect();
    if !announce.is_empty() {
        sink(SmpEvent::Pending { server: server.clone(), notifier_ids: announce }).await;
    }
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
            return failed;
        }
        Err(e) => {
            warn!(relay = %server, "NSUB batch signing failed: {e}");
            return failed;
        }
    };
    let entities: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    let results = match client.send_encoded(encoded, &entities).await {
        Ok(r) => r,
        Err(e) => {
            warn!(relay = %server, "NSUB batch not sent: {e}");
            return failed;
        }
    };
    let session_service = client.service().map(|s| s.service_id.as_slice());
    let mut active = Vec::new();
    let mut associated = Vec::new();
    let mut errors = Vec::new();
    let mut timed_out = Vec::new();
    let mut lost = false;
    for (id, r) in sent.into_iter().zip(results) {
        // `SOK` with this session's service id: associated (`groupSub`)
        if let Ok(BrokerMsg::Sok { service_id: Some(sid) }) = &r {
            if session_service == Some(sid.as_slice()) {
                associated.push(id);
                continue;
            }
        }
        match subscribed(r) {
            Ok(()) => active.push(id),
            // left PENDING, not an error: sent again (`groupSub`'s temporary errors)
            Err(SmpClientError::Timeout) => timed_out.push(id),
            Err(e) => {
                lost |= matches!(e, SmpClientError::Closed | SmpClientError::Transport(_));
                errors.push((id, sub_error(&e)));
            }
        }
    }
    if !active.is_empty() {
        sink(SmpEvent::Subscribed { server: server.clone(), notifier_ids: active }).await;
    }
    if let (Some(sid), false) = (session_service, associated.is_empty()) {
        let event = SmpEvent::ServiceAssociated { server: server.clone(), service_id: sid.to_vec(), notifier_ids: associated.clone() };
        sink(event).await;
    }
    if !errors.is_empty() {
        sink(SmpEvent::SubscriptionErrors { server: server.clone(), errors }).await;
    }
    BatchDone { ok: !lost, associated, timed_out }
}

/// `NMSG` / `END` / `DELD` for a notifier id, `ENDS` for the service.
async fn handle_event(server: &SmpServer, sink: &EventSink, e: ref_client::smp::SmpEvent) {
    // the entity id of `ENDS` is the service id; this task's session is the current one
    if let Ok(BrokerMsg::Ends { count }) = &e.msg {
        warn!(relay = %server, "ENDS {count}: another session of this service took the service subscription");
        let count = u64::try_from(*count).unwrap_or(0);
        return sink(SmpEvent::ServiceEnded { server: server.clone(), count }).await;
    }
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
