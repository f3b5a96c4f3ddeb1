//! The tokio shell around [`NtfServerCore`]: accepts TLS connections, runs the NTF handshake,
//! feeds transmissions to the core and writes its responses, delivers the pushes it asks for,
//! and runs the periodic sweep. All protocol decisions are the core's.
//!
//! Tasks:
//! - an accept loop per listening port (`[TRANSPORT] port = 443,5223`), all feeding one core;
//! - one per client connection: read a block, hand each transmission to the core (holding the
//!   core's lock only for the calls, never across IO), write the responses as one block;
//! - a push worker: takes push effects from a bounded queue (the reference's push queue of
//!   32768) and delivers them concurrently, retrying once on connection errors and
//!   retry-later answers (as the reference), then reports the outcome to the core;
//! - a ticker: calls [`NtfServerCore::tick`] when [`NtfServerCore::next_tick`] is due.
//!
//! SMP subscription effects go to the SMP subscriber ([`super::subscriber`]) when one is
//! configured; its events come back to the core through the same lock.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ntf_proto::response::NtfResponse;
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, SeedableRng};
use ref_transport::{ntf_server_handshake, Error as TransportErr, TlsServerConfig};
use smp_proto::error_type::ErrorType;
use smp_proto::keys::PublicKey;
use smp_proto::transmission::RawTransmission;
use smp_proto::server::KeyHash;
use smp_proto::version::VersionRange;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::apns::{PushError, PushProviderClient};
use super::metrics::NtfMetrics;
use super::in_order::{self, InOrder};
use super::journal::Journal;
use super::lease::{self, Leases, ScaleOut};
use super::subscriber::{self, EventSink, SubscriberConfig};
use crate::ntf::{preverify, Effect, NtfServerCore, Preverified, PushNotification, PushOutcome, Response, ServiceStats, SessionParams, SmpEvent, Store, TokenRecord};

/// How long a client may take for TLS and the NTF handshake (the reference's 60 s).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// Capacity of the push queue (the reference's `pushQSize`).
pub const PUSH_QUEUE_SIZE: usize = 32768;
/// Pushes in flight at once (concurrent streams on the provider connections).
pub const PUSH_CONCURRENCY: usize = 64;

/// Unix time in seconds.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A push for the worker.
#[derive(Debug)]
struct PushJob {
    token: TokenRecord,
    notification: PushNotification,
    /// The journaled `NMSG` that caused it (several instances: see [`super::journal`]).
    receipt: Option<i64>,
}

/// State shared by the tasks.
struct Shared<S: Store> {
    core: Mutex<NtfServerCore<S, ChaCha20Rng>>,
    pushes: mpsc::Sender<PushJob>,
    metrics: Arc<NtfMetrics>,
    smp: OnceLock<mpsc::UnboundedSender<Effect>>,
    /// With several instances on one database: the leases this one holds (SMP effects and
    /// events of relays it does not hold are dropped; see [`super::lease`]).
    leases: Option<Arc<Leases>>,
    /// With several instances: the `NMSG` journal of this process.
    journal: Option<Arc<Journal>>,
}

impl<S: Store> Shared<S> {
    /// Runs `f` on the core. Store calls may block (an fsync, a PostgreSQL round trip through
    /// the synchronous client), so the worker thread is handed over to the runtime meanwhile
    /// (`block_in_place`; the shell needs the multi-threaded runtime).
    fn with_core<T>(&self, f: impl FnOnce(&mut NtfServerCore<S, ChaCha20Rng>) -> T) -> T {
        tokio::task::block_in_place(|| {
            // a panic while holding the lock would be a bug in the core; keep serving the others
            let mut core = self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut core)
        })
    }

    async fn dispatch(&self, effects: Vec<Effect>) {
        self.dispatch_receipt(effects, None).await;
    }

    /// [`dispatch`](Self::dispatch) for the effects of the journaled `NMSG` `receipt`: its push
    /// carries it; without a push its handling ends here.
    async fn dispatch_receipt(&self, effects: Vec<Effect>, mut receipt: Option<i64>) {
        for e in effects {
            match e {
                Effect::Push { token, notification } => {
                    let receipt = receipt.take();
                    self.metrics.push_queued(token.token.provider_name(), notification.kind());
                    if let PushNotification::Messages(_) = notification {
                        self.metrics.token_active(token.id.as_bytes());
                    }
                    self.metrics.set_push_queue(self.pushes.max_capacity() - self.pushes.capacity());
                    if self.pushes.send(PushJob { token, notification, receipt }).await.is_err() {
                        warn!("push worker stopped; push dropped");
                    }
                }
                Effect::SmpSubscribe { queue: ntf_proto::queue::SmpQueueNtf { server, .. }, .. }
                | Effect::SmpUnsubscribe { queue: ntf_proto::queue::SmpQueueNtf { server, .. } }
                | Effect::SmpSubscribeService { server, .. }
                    if self.leases.as_ref().is_some_and(|l| !l.holds_relay(&server)) =>
                {
                    // another instance owns the relay: it picks up NEW rows from the store
                    debug!(relay = %server, "not the relay's owner: left to its owner");
                }
                other => match self.smp.get() {
                    Some(tx) => {
                        if let Effect::SmpSubscribeService { server, count, .. } = &other {
                            self.metrics.service_pending(server, *count);
                        }
                        let _ = tx.send(other);
                    }
                    None => debug!(?other, "no SMP subscriber configured"),
                },
            }
        }
        if let (Some(id), Some(j)) = (receipt, &self.journal) {
            j.done(id);
        }
    }
}

/// What the shell needs to run.
pub struct ShellConfig {
    /// TLS credentials and ALPN.
    pub tls: TlsServerConfig,
    /// NTF versions offered (with ALPN; without it only v1, as the reference).
    pub versions: VersionRange,
    /// Where pushes go.
    pub push: Arc<dyn PushProviderClient>,
    /// The SMP subscriber's settings; `None`: subscriptions are stored but never subscribed.
    pub subscriber: Option<SubscriberConfig>,
    /// Operator settings (inactive clients, metrics); `ShellOps::default()` for none.
    pub ops: ShellOps,
}

/// Operator settings of the shell.
#[derive(Clone, Default)]
pub struct ShellOps {
    /// Disconnect a client that sent nothing for this long (`[INACTIVE_CLIENTS]`; the
    /// reference checks every `check_interval` that nothing was received or sent for `ttl`;
    /// as this server only sends answers, a read timeout of `ttl` is the same rule).
    pub inactive_clients: Option<Duration>,
    /// Where the counters go (fresh ones when `None`); see [`RunningServer::metrics`].
    pub metrics: Option<Arc<NtfMetrics>>,
    /// Several instances on one PostgreSQL database: relays and the periodic sweep are owned
    /// by leases ([`super::lease`]); `None`: this instance does everything.
    pub scale_out: Option<ScaleOut>,
}

/// How long [`RunningServer::shutdown`] waits for connections to end before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long [`RunningServer::shutdown`] tries to give up the leases.
pub const RELEASE_LIMIT: Duration = Duration::from_secs(3);

/// A running server.
pub struct RunningServer {
    /// The bound address (the first of [`RunningServer::addrs`]).
    pub addr: SocketAddr,
    /// Every bound address, in the order of the listeners given to [`start_on`].
    pub addrs: Vec<SocketAddr>,
    /// The server identity.
    pub key_hash: KeyHash,
    /// Where the metrics are served over HTTP, when they are.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the control port listens (on 127.0.0.1), when it does.
    pub control_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    clients: Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
    metrics: Arc<NtfMetrics>,
    service_stats: Arc<dyn Fn() -> ServiceStats + Send + Sync>,
    /// With several instances: the leases this one holds, and the lease connection to give
    /// them up with at shutdown.
    scale_out: Option<(Arc<Leases>, ScaleOut)>,
    /// Run at the end of [`RunningServer::shutdown`] (saving the stats file).
    after_stop: Vec<Box<dyn FnOnce() + Send>>,
}

impl RunningServer {
    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<NtfMetrics> {
        &self.metrics
    }

    /// Runs `task` until the server shuts down (metrics writers and endpoints).
    pub fn spawn_until_shutdown(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// Runs `f` once the server has stopped (at the end of [`RunningServer::shutdown`]).
    pub fn on_shutdown(&mut self, f: Box<dyn FnOnce() + Send>) {
        self.after_stop.push(f);
    }

    /// The `ntf://` address for `host`.
    pub fn address(&self, host: &str) -> String {
        format!("ntf://{}@{}:{}", self.key_hash, host, self.addr.port())
    }

    /// The counters of the service subscriptions.
    pub fn service_stats(&self) -> ServiceStats {
        (self.service_stats)()
    }

    /// With several instances on one database: whether this instance acts for `server` now
    /// (holds its lease, see [`super::lease`]); `None` for a single instance.
    pub fn holds_relay(&self, server: &smp_proto::server::SmpServer) -> Option<bool> {
        self.scale_out.as_ref().map(|(l, _)| l.holds_relay(server))
    }

    /// Stops accepting, lets each connection finish the block it is handling (every
    /// answer written was stored first: the store commits before the core answers), closes the
    /// connections and the relay connections, and ends the background tasks. Bounded by
    /// [`SHUTDOWN_GRACE`] for the connections; everything is closed when this returns.
    ///
    /// With several instances, the leases are given up last (after the relay connections are
    /// closed, so this instance no longer acts for any relay), so that another instance takes
    /// the relays over at its next round (within its `lease_renew`) rather than after
    /// `lease_ttl`; bounded by [`RELEASE_LIMIT`] (a database out of reach: the leases then run
    /// out as after a kill).
    pub async fn shutdown(self) {
        info!("Saving server state...");
        let _ = self.shutdown.send(true);
        let _ = self.accept.await;
        let mut clients = self.clients.lock().await;
        let drain = async { while clients.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            warn!("connections still busy after {SHUTDOWN_GRACE:?}: closing them");
            clients.shutdown().await;
        }
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        if let Some((leases, scale)) = self.scale_out {
            lease::release_all(&leases, &scale, RELEASE_LIMIT).await;
        }
        for f in self.after_stop {
            f();
        }
        info!("Server stopped");
    }

    /// Waits until the server stops (it runs until [`RunningServer::shutdown`]).
    pub async fn wait(self) {
        let _ = self.accept.await;
    }
}

/// Starts serving on `listener` with `core`'s logic over `store`.
///
/// # Errors
/// None yet beyond what setting up the tasks can fail with; connection errors are logged and
/// end only that connection.
pub fn start<S: Store + Send + 'static>(
    listener: TcpListener,
    config: ShellConfig,
    core_config: crate::ntf::Config,
    store: S,
) -> std::io::Result<RunningServer> {
    start_on(vec![listener], config, core_config, store)
}

/// [`start`] on several listeners (`[TRANSPORT] port = 443,5223`; the reference runs one
/// transport server per port, `runNtfServer`): each accepts the same way into the one core, so
/// a client may use any of them, and a token registered through one port is the same token
/// through another.
///
/// # Errors
/// No listener, or one whose address cannot be read.
pub fn start_on<S: Store + Send + 'static>(
    listeners: Vec<TcpListener>,
    config: ShellConfig,
    core_config: crate::ntf::Config,
    store: S,
) -> std::io::Result<RunningServer> {
    let addrs = listeners.iter().map(TcpListener::local_addr).collect::<std::io::Result<Vec<_>>>()?;
    let addr = *addrs.first().ok_or_else(|| std::io::Error::other("no listener to serve on"))?;
    let rng = ChaCha20Rng::from_rng(OsRng).map_err(|e| std::io::Error::other(e.to_string()))?;
    let core = NtfServerCore::new(core_config, store, rng, unix_now());
    let (push_tx, push_rx) = mpsc::channel(PUSH_QUEUE_SIZE);
    let metrics = config.ops.metrics.clone().unwrap_or_else(|| Arc::new(NtfMetrics::new(Vec::new())));
    let leases = config.ops.scale_out.as_ref().map(|_| Arc::new(Leases::new()));
    // several instances: this process's run id (a restart is another run) and its NMSG journal
    let journal = config.ops.scale_out.as_ref().map(|x| {
        let run = format!("{}.{:016x}", x.config.instance_id, rand_core::RngCore::next_u64(&mut OsRng));
        Journal::start(run, x.store.config().clone())
    });
    let (journal, journal_task) = match journal {
        Some((j, t)) => (Some(j), Some(t)),
        None => (None, None),
    };
    let shared = Arc::new(Shared { core: Mutex::new(core), pushes: push_tx, metrics: metrics.clone(), smp: OnceLock::new(), leases, journal });
    metrics.set_entity_counts(entity_counts_of(Arc::downgrade(&shared)));
    let (release_tx, release_rx) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let key_hash = config.tls.key_hash();
    let tls = Arc::new(config.tls);
    let mut tasks: Vec<JoinHandle<()>> = journal_task.into_iter().collect();
    if let Some(sub_config) = config.subscriber {
        let core = shared.clone();
        // several instances: each relay's events applied in order through a queue, so that
        // the relay's task reads on while its NMSGs' journal inserts are in flight
        let in_order = shared.journal.as_ref().map(|_| {
            let weak = Arc::downgrade(&shared);
            let apply: in_order::Apply = Arc::new(move |event, receipt| {
                let weak = weak.clone();
                Box::pin(async move {
                    if let Some(shared) = weak.upgrade() {
                        on_smp_event(&shared, event, receipt).await;
                    }
                })
            });
            Arc::new(InOrder::new(apply, in_order::DEPTH))
        });
        let sink: EventSink = Arc::new(move |event| {
            let shared = core.clone();
            let in_order = in_order.clone();
            Box::pin(async move {
                let (Some(j), Some(order)) = (&shared.journal, in_order) else {
                    return on_smp_event(&shared, event, None).await;
                };
                // several instances: the NMSG is journaled before it is handled
                let server = event_server(&event).clone();
                match j.submit(&event) {
                    Some(receipt) => order.message(&server, event, receipt).await,
                    None => order.other(&server, event).await,
                }
            })
        });
        let (tx, task) = subscriber::start_with_releases(sub_config, sink, release_rx);
        let _ = shared.smp.set(tx);
        tasks.push(task);
    }
    let clients = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
    let conn = Arc::new(Conn { tls, versions: config.versions, inactive: config.ops.inactive_clients });
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| accept_loop(l, conn.clone(), shared.clone(), shutdown_rx.clone(), clients.clone()))
        .collect();
    let accept = tokio::spawn(async move {
        futures_util::future::join_all(loops).await;
    });
    // a weak reference: the last reference to the core (and its store) stays where it was,
    // so a blocking store is never dropped here; a short read of the core's counters, no store
    // call, so no block_in_place (callable from any runtime flavour)
    let stats_of = Arc::downgrade(&shared);
    let service_stats = Arc::new(move || {
        stats_of.upgrade().map_or_else(ServiceStats::default, |s| {
            s.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner).service_stats()
        })
    });
    tasks.extend([
        tokio::spawn(push_worker(shared.clone(), config.push, push_rx)),
        tokio::spawn(ticker(shared.clone())),
    ]);
    let scale_out = match config.ops.scale_out {
        Some(scale) => {
            let leases = shared.leases.clone().unwrap_or_default();
            tasks.push(tokio::spawn(lease::run(shared.clone(), leases.clone(), scale.clone(), release_tx)));
            Some((leases, scale))
        }
        None => {
            tasks.push(tokio::spawn(resubscribe(shared)));
            None
        }
    };
    Ok(RunningServer { addr, addrs, key_hash, metrics_addr: None, control_addr: None, shutdown, accept, tasks, clients, metrics, service_stats, scale_out, after_stop: Vec::new() })
}

/// Applies an SMP event to the core and runs its effects; `receipt`: the journal row of the
/// `NMSG` (received now, or taken over from a process that died).
async fn on_smp_event<S: Store + Send + 'static>(shared: &Arc<Shared<S>>, event: SmpEvent, receipt: Option<i64>) {
    if let Some(l) = &shared.leases {
        let server = event_server(&event);
        // an `NMSG` is handled whatever the lease: the relay delivers a notification
        // to one subscriber once and keeps no copy (`deliverNtfsThread`), so this
        // instance is the only one that can push it (dropping it would lose it)
        if !l.holds_relay(server) && !matches!(event, SmpEvent::Message { .. }) {
            // the lease ran out: another instance may own the relay now, and its
            // statuses are the ones that count
            return debug!(relay = %server, "event of a relay not held: dropped");
        }
    }
    shared.metrics.smp_event(&event);
    let nmsg_from = match &event {
        SmpEvent::Message { queue, .. } => Some(queue.server.clone()),
        _ => None,
    };
    let effects = shared.with_core(|c| c.smp_event(unix_now(), event));
    if let (Some(server), Ok(effects)) = (nmsg_from, &effects) {
        let pushed = effects.iter().any(|e| matches!(e, Effect::Push { .. }));
        shared.metrics.message_result(&server, pushed);
    }
    match effects {
        Ok(effects) => {
            let (again, effects): (Vec<_>, Vec<_>) = effects.into_iter().partition(|e| matches!(e, Effect::SmpResubscribe { .. }));
            shared.dispatch_receipt(effects, receipt).await;
            for e in again {
                if let Effect::SmpResubscribe { server } = e {
                    warn!(relay = %server, "service association removed: subscribing its queues one by one");
                    shared.metrics.service_removed(&server);
                    tokio::spawn(resubscribe_server(shared.clone(), server));
                }
            }
        }
        // the journal row stays: handled again after this process ends
        Err(e) => warn!("SMP event: {e:?}"),
    }
}

/// The store totals for the metrics (`getEntityCounts`), read from the core's store when the
/// metrics are read; a weak reference, so the store is never dropped here.
fn entity_counts_of<S: Store + Send + 'static>(shared: std::sync::Weak<Shared<S>>) -> super::metrics::EntityCountsFn {
    Box::new(move || {
        let s = shared.upgrade()?;
        let read = || s.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entity_counts();
        // a store call may block: hand the worker over where the runtime allows it
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let counts = if multi { tokio::task::block_in_place(read) } else { read() };
        counts.map_err(|e| warn!("store counts: {e:?}")).ok()
    })
}

/// What every connection needs.
struct Conn {
    tls: Arc<TlsServerConfig>,
    versions: VersionRange,
    inactive: Option<Duration>,
}

async fn accept_loop<S: Store + Send + 'static>(
    listener: TcpListener,
    conn: Arc<Conn>,
    shared: Arc<Shared<S>>,
    mut shutdown: watch::Receiver<bool>,
    clients: Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (conn, shared, stop) = (conn.clone(), shared.clone(), shutdown.clone());
                    let mut set = clients.lock().await;
                    // reap the connections that ended
                    while set.try_join_next().is_some() {}
                    set.spawn(async move {
                        if let Err(e) = client(stream, &conn, &shared, stop).await {
                            debug!(%peer, "connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // e.g. too many open files: keep serving the connections we have
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// One client connection (the reference's `runNtfClientTransport` / `client`).
async fn client<S: Store + Send + 'static>(
    stream: TcpStream,
    conn: &Conn,
    shared: &Shared<S>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TransportErr> {
    let (tls, versions) = (&*conn.tls, conn.versions);
    let _ = stream.set_nodelay(true);
    let setup = async {
        let tls_stream = tls.accept(stream).await?;
        ntf_server_handshake(tls_stream, tls, versions).await
    };
    let mut session = tokio::time::timeout(HANDSHAKE_TIMEOUT, setup)
        .await
        .map_err(|_| TransportErr::Tls("handshake timeout".into()))??;
    let params = SessionParams::new(session.agreement.version, session.tls.session_id.clone(), session.server_private_key);
    let batch = session.batch();
    loop {
        let read = session.reader.read_transmissions(batch);
        let read = async {
            match conn.inactive {
                Some(ttl) => tokio::time::timeout(ttl, read).await.ok(),
                None => Some(read.await),
            }
        };
        let items = tokio::select! {
            // a block being handled is finished first: this only interrupts a wait for the next
            _ = stop.changed() => return Ok(()),
            r = read => match r {
                Some(Ok(items)) => items,
                Some(Err(TransportErr::Closed)) => return Ok(()),
                Some(Err(e)) => return Err(e),
                None => {
                    debug!("inactive client disconnected");
                    return Ok(());
                }
            },
        };
        // three phases, so that the signature checks run without holding the core (see
        // `ntf::preverify`): look the keys up, verify, handle
        let tp = params.transmission_params();
        let raws: Vec<Option<RawTransmission<'_>>> = items
            .iter()
            .map(|item| item.as_ref().ok().and_then(|t| RawTransmission::decode(t, &tp).ok()))
            .collect();
        let keys: Vec<Option<PublicKey>> = shared.with_core(|core| {
            raws.iter().map(|r| r.as_ref().and_then(|raw| core.authorization_key(&params, raw))).collect()
        });
        let pres: Vec<Option<Preverified>> = raws
            .iter()
            .zip(&keys)
            .map(|(r, k)| r.as_ref().and_then(|raw| preverify(&params, raw, k.as_ref())))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        let mut effects = Vec::new();
        shared.with_core(|core| {
            let now = unix_now();
            for (raw, pre) in raws.iter().zip(&pres) {
                let response = match raw {
                    Some(raw) => {
                        let o = core.handle_preverified(now, &params, raw, pre.as_ref());
                        shared.metrics.command(raw.command, &o.response.response);
                        effects.extend(o.effects);
                        o.response
                    }
                    // a transmission that does not parse, or a block that does not split into
                    // transmissions (`tGetServer` / PEBlock)
                    None => Response { corr_id: Vec::new(), entity_id: Vec::new(), response: NtfResponse::Err(ErrorType::Block) },
                };
                out.push(response.to_bytes(&params));
            }
        });
        for (i, e) in session.writer.write_transmissions(&out, batch).await? {
            warn!("response {i} not sent: {e:?}");
        }
        shared.dispatch(effects).await;
    }
}

/// Delivers pushes concurrently and reports each outcome to the core.
async fn push_worker<S: Store + Send + 'static>(
    shared: Arc<Shared<S>>,
    provider: Arc<dyn PushProviderClient>,
    mut jobs: mpsc::Receiver<PushJob>,
) {
    let limit = Arc::new(Semaphore::new(PUSH_CONCURRENCY));
    while let Some(job) = jobs.recv().await {
        // Web Push pushes go to many services, any of which may hang: they do not take the
        // APNS limit; the Web Push client bounds them per host and gives each a deadline
        let permit = if job.token.token.web_push().is_some() {
            None
        } else {
            let Ok(p) = limit.clone().acquire_owned().await else { return };
            Some(p)
        };
        let (shared, provider) = (shared.clone(), provider.clone());
        tokio::spawn(async move {
            if let (Some(id), Some(j), Some(l)) = (job.receipt, &shared.journal, &shared.leases) {
                // this run's lease ran out (cut from the database): the instance that takes its
                // journal over pushes it; pushing here too could push it twice. Otherwise the
                // mark is committed before the request: an instance taking the row over then
                // knows the push may have been delivered and does not push it again
                let leave = if l.holds(&j.resource()) {
                    let marked = j.pushing(id).await;
                    (!marked && !l.holds(&j.resource())).then_some("not marked, and this run's lease is not held")
                } else {
                    Some("this run's lease is not held")
                };
                if let Some(why) = leave {
                    warn!("push of journaled NMSG {id} left to the instance taking the journal over: {why}");
                    drop(permit);
                    return;
                }
            }
            let outcome = deliver(&*provider, &job).await;
            let kind = job.notification.kind();
            let relay = match &job.notification {
                PushNotification::Messages(m) => m.messages().last().map(|d| &d.queue.server),
                _ => None,
            };
            shared.metrics.push_result(job.token.token.provider_name(), kind, &outcome, relay);
            shared.metrics.set_push_queue(shared.pushes.max_capacity() - shared.pushes.capacity());
            let result = shared.with_core(|c| c.push_result(unix_now(), &job.token.id, kind, outcome));
            if let Err(e) = result {
                warn!("recording push result: {e:?}");
            }
            if let (Some(id), Some(j)) = (job.receipt, &shared.journal) {
                j.done(id);
            }
            drop(permit);
        });
    }
}

/// One push, retried once after a connection failure or a retry-later answer
/// (`deliverNotification`).
async fn deliver(provider: &dyn PushProviderClient, job: &PushJob) -> PushOutcome {
    let notification = &job.notification;
    let mut result = provider.push(&job.token.token, &job.token.dh_secret, notification.clone()).await;
    if matches!(result, Err(PushError::Connection(_) | PushError::RetryLater(_))) {
        result = provider.push(&job.token.token, &job.token.dh_secret, notification.clone()).await;
    }
    match result {
        Ok(()) => PushOutcome::Delivered,
        Err(PushError::TokenInvalid(reason)) => PushOutcome::InvalidToken(reason),
        Err(e) => {
            warn!("push failed: {e}");
            PushOutcome::Failed
        }
    }
}

/// Runs the periodic sweep when due.
async fn ticker<S: Store + Send + 'static>(shared: Arc<Shared<S>>) {
    loop {
        let due = shared.with_core(|c| c.next_tick());
        let wait = (due - unix_now()).clamp(1, 3600) as u64;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        if shared.leases.as_ref().is_some_and(|l| !l.holds(lease::CRON)) {
            // another instance sends the periodic pushes
            continue;
        }
        let effects = shared.with_core(|c| c.tick(unix_now()));
        match effects {
            Ok(effects) => shared.dispatch(effects).await,
            Err(e) => warn!("periodic sweep: {e:?}"),
        }
    }
}

/// At start: subscribe everything that should be active, a page at a time, so that the first
/// `NSUB`s go out while the store is still being read.
async fn resubscribe<S: Store + Send + 'static>(shared: Arc<Shared<S>>) {
    let servers = match shared.with_core(|c| c.resubscribe_servers()) {
        Ok(s) => s,
        Err(e) => return warn!("resubscribe at start: {e:?}"),
    };
    let mut total = 0;
    for server in servers {
        total += resubscribe_relay(&shared, &server).await;
    }
    info!("resubscribing {total} subscriptions one by one");
}

/// Everything of one relay: its subscriptions a page at a time, then its service
/// subscription; how many were sent one by one.
async fn resubscribe_relay<S: Store + Send + 'static>(shared: &Shared<S>, server: &smp_proto::server::SmpServer) -> usize {
    let total = resubscribe_pages(shared, server).await;
    resubscribe_service(shared, server).await;
    total
}

/// The service subscription of a relay, if it has one, after its pages: the relay task sends
/// NSUBS once the NSUBs taken before it are answered (see `subscriber`).
async fn resubscribe_service<S: Store + Send + 'static>(shared: &Shared<S>, server: &smp_proto::server::SmpServer) {
    match shared.with_core(|c| c.resubscribe_service(server)) {
        Ok(Some(e)) => {
            if let Effect::SmpSubscribeService { count, .. } = &e {
                info!(relay = %server, "subscribing the service with {count} associated queues");
            }
            shared.dispatch(vec![e]).await;
        }
        Ok(None) => {}
        Err(e) => warn!(relay = %server, "resubscribe: {e:?}"),
    }
}

/// Pages every subscription of `server` that should be subscribed out of the store as
/// `SmpSubscribe`s (after its service association was removed).
async fn resubscribe_server<S: Store + Send + 'static>(shared: Arc<Shared<S>>, server: smp_proto::server::SmpServer) {
    let n = resubscribe_pages(&shared, &server).await;
    info!(relay = %server, "resubscribing {n} subscriptions one by one");
}

/// `subscribeLoop`: the pages of [`NtfServerCore::resubscribe_page`]; how many were sent.
async fn resubscribe_pages<S: Store + Send + 'static>(shared: &Shared<S>, server: &smp_proto::server::SmpServer) -> usize {
    let mut total = 0;
    let mut after = None;
    let mut tries = 0;
    loop {
        match shared.with_core(|c| c.resubscribe_page(server, after.as_ref())) {
            Ok((effects, next)) => {
                tries = 0;
                total += effects.len();
                shared.dispatch(effects).await;
                match next {
                    Some(n) => after = Some(n),
                    None => return total,
                }
            }
            Err(e) if tries < RESUBSCRIBE_TRIES => {
                // e.g. a deadlock or a lost database connection: the same page again
                tries += 1;
                warn!(relay = %server, "resubscribe: {e:?}; trying the page again");
                tokio::time::sleep(Duration::from_millis(200) * tries).await;
            }
            Err(e) => {
                warn!(relay = %server, "resubscribe: {e:?}; {RESUBSCRIBE_TRIES} tries, giving up");
                return total;
            }
        }
    }
}

/// Tries of one page of [`resubscribe_pages`] (waiting 0.2 s, 0.4 s, ... between them).
const RESUBSCRIBE_TRIES: u32 = 5;

/// The relay an SMP event came from (service events too: a service session's `SOKS` or
/// association after the lease ran out must not mark subscriptions another instance owns).
fn event_server(e: &SmpEvent) -> &smp_proto::server::SmpServer {
    match e {
        SmpEvent::Message { queue, .. } | SmpEvent::End { queue } | SmpEvent::Deleted { queue } => &queue.server,
        SmpEvent::Pending { server, .. }
        | SmpEvent::Subscribed { server, .. }
        | SmpEvent::SubscriptionErrors { server, .. }
        | SmpEvent::Disconnected { server, .. }
        | SmpEvent::ServiceAssociated { server, .. }
        | SmpEvent::ServiceSubscribed { server, .. }
        | SmpEvent::ServiceUnavailable { server }
        | SmpEvent::ServiceDisconnected { server }
        | SmpEvent::ServiceEnded { server, .. } => server,
    }
}

/// What the lease task ([`lease::run`]) needs of the shell.
impl<S: Store + Send + 'static> lease::Shell for Shared<S> {
    fn resubscribe_relay<'a>(&'a self, server: &'a smp_proto::server::SmpServer) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send + 'a>> {
        Box::pin(resubscribe_relay(self, server))
    }

    fn dispatch(&self, effects: Vec<Effect>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(Shared::dispatch(self, effects))
    }

    fn resubscribe_service<'a>(&'a self, server: &'a smp_proto::server::SmpServer) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(resubscribe_service(self, server))
    }

    fn run_resource(&self) -> Option<String> {
        self.journal.as_ref().map(|j| j.resource())
    }

    fn run_id(&self) -> Option<String> {
        self.journal.as_ref().map(|j| j.run().to_string())
    }

    fn replay(self: Arc<Self>, nmsgs: Vec<crate::store::journal::JournaledNmsg>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            let done = |id: i64| {
                if let Some(jr) = &self.journal {
                    jr.done(id);
                }
            };
            for crate::store::journal::JournaledNmsg { id, nmsg, push_started } in nmsgs {
                let (Some(queue), Ok(nonce)) = (ntf_proto::queue::SmpQueueNtf::new(nmsg.server.clone(), nmsg.notifier_id), <[u8; ntf_proto::push::NONCE_LEN]>::try_from(nmsg.nonce.as_slice())) else {
                    warn!(relay = %nmsg.server, "journaled NMSG {id} unreadable: dropped");
                    done(id);
                    continue;
                };
                if push_started {
                    // `pushing` was committed: the provider may have delivered it
                    warn!(relay = %nmsg.server, "NMSG {id} of a process that ended: push outcome unknown (the push had started), not pushed again");
                    self.metrics.journal_outcome_unknown();
                    done(id);
                    continue;
                }
                info!(relay = %nmsg.server, "NMSG {id} of a process that ended: handled again");
                on_smp_event(&self, SmpEvent::Message { queue, nonce, enc_meta: nmsg.enc_meta }, Some(id)).await;
            }
        })
    }
}
