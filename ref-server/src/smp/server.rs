//! The relay's tokio shell: accepts TLS connections (ALPN `smp/1`), runs the SMP handshake
//! (certificate chain and signed session key; block encryption from v11), reads 16384-byte
//! blocks of batched transmissions, passes them to the [`Relay`] core and writes what it
//! returns to each connection.
//!
//! One task reads each connection and one writes it; the core sits behind a mutex that is
//! never held across an `.await`. The signatures of a received block are verified without
//! that mutex, on the blocking pool, while the next blocks are read ([`VERIFY_PIPELINE`]
//! blocks of a connection at once): the core's split handling
//! ([`Preverified`](super::core::Preverified)) keeps the outcome that of handling each block
//! whole, in the order received. The store is any [`QueueStore`]: in memory
//! ([`SmpRelayServer::new`]) or durable ([`SmpRelayServer::with_store`] with a
//! [`SqliteQueueStore`](super::sqlite_store::SqliteQueueStore)).
//!
//! [`SmpRelayServer::run`] owns every task it starts (connections, their writers, the expiry
//! timer): when its future is dropped (its task aborted) all of them end and every connection
//! is closed, so a new relay can be started on the same store and port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_core::OsRng;
use ref_transport::{smp_server_handshake_services, Error, ServerCredentials, TlsServerConfig};
use smp_proto::crypto::Certificate;
use smp_proto::error_type::{HandshakeError, TransportError};
use smp_proto::handshake::ServiceRole;
use smp_proto::server::KeyHash;
use smp_proto::version::{smp, VersionRange};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::core::{
    encode_transmit, ClientId, Preverified, Relay, RelayConfig, SessionParams, Transmit,
};
use super::store::{MemQueueStore, QueueStore};

/// The SMP versions the relay offers: v6-18, the reference's whole range. Every encoding that
/// differs between them (`NEW`, `IDS`, `SOK`, `DELD`, `ERR BLOCKED`, implied session ids,
/// the service signature field, block encryption) is implemented per version.
pub const SUPPORTED: VersionRange = smp::SUPPORTED;

/// How long the TLS and SMP handshakes of a new connection may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Blocks of one connection whose signatures may be being verified at once (they are
/// handled in the order received).
pub const VERIFY_PIPELINE: usize = 4;

/// How often kept notifications are expired.
const EXPIRE_INTERVAL: Duration = Duration::from_secs(3600);

/// The store a relay runs on.
type BoxedStore = Box<dyn QueueStore + Send>;

struct State {
    relay: Relay<BoxedStore, OsRng>,
    senders: HashMap<ClientId, mpsc::UnboundedSender<Vec<Transmit>>>,
}

/// A running relay: TLS configuration and the shared core. Cheap to clone.
#[derive(Clone)]
pub struct SmpRelayServer {
    tls: Arc<TlsServerConfig>,
    versions: VersionRange,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SmpRelayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmpRelayServer({})", self.tls.key_hash())
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl SmpRelayServer {
    /// A relay with these credentials (ALPN `smp/1`), settings and the versions [`SUPPORTED`],
    /// keeping its queues in memory.
    ///
    /// # Errors
    /// [`Error::OpenSsl`] or [`Error::Credentials`] when the TLS configuration fails.
    pub fn new(credentials: &ServerCredentials, config: RelayConfig) -> Result<Self, Error> {
        Self::with_store(credentials, config, MemQueueStore::new())
    }

    /// A relay as [`SmpRelayServer::new`] over `store` (e.g. a
    /// [`SqliteQueueStore`](super::sqlite_store::SqliteQueueStore), whose queues, messages and
    /// kept notifications survive a restart).
    ///
    /// # Errors
    /// As [`SmpRelayServer::new`].
    pub fn with_store(
        credentials: &ServerCredentials,
        config: RelayConfig,
        store: impl QueueStore + Send + 'static,
    ) -> Result<Self, Error> {
        // as the reference's default (accept_service_credentials = on): services may connect
        let tls = TlsServerConfig::with_client_certificates(credentials, &[smp::ALPN])?;
        let store: BoxedStore = Box::new(store);
        Ok(Self {
            tls: Arc::new(tls),
            versions: SUPPORTED,
            state: Arc::new(Mutex::new(State {
                relay: Relay::new(config, store, OsRng),
                senders: HashMap::new(),
            })),
        })
    }

    /// Offers `versions` instead of [`SUPPORTED`] (tests of older versions).
    pub fn with_versions(mut self, versions: VersionRange) -> Self {
        self.versions = versions;
        self
    }

    /// The relay identity (`smp://<key hash>@...`).
    pub fn key_hash(&self) -> KeyHash {
        self.tls.key_hash()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // a panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than stopping the relay would
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notifications kept for notifier ids without a subscriber.
    pub fn stored_notifications(&self) -> usize {
        self.lock().relay.stored_notifications()
    }

    /// Number of queues.
    pub fn queue_count(&self) -> usize {
        self.lock().relay.store().queue_count()
    }

    /// Accepts connections on `listener` until the future is dropped (its task aborted) or
    /// `accept` fails. Either way every task it started ends: the connections are closed
    /// and forgotten, and the listener is closed.
    ///
    /// # Errors
    /// An IO error of `accept`.
    pub async fn run(self, listener: TcpListener) -> std::io::Result<()> {
        // dropping the set aborts its tasks: nothing outlives `run`
        let mut tasks = JoinSet::new();
        let expirer = self.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(EXPIRE_INTERVAL);
            loop {
                tick.tick().await;
                let n = expirer.lock().relay.expire(unix_now());
                if n > 0 {
                    tracing::info!(expired = n, "expired undelivered notifications");
                }
            }
        });
        loop {
            let (tcp, peer) = listener.accept().await?;
            // reap the connections that ended
            while tasks.try_join_next().is_some() {}
            let _ = tcp.set_nodelay(true);
            let srv = self.clone();
            tasks.spawn(async move {
                match srv.connection(tcp).await {
                    Ok(()) => tracing::debug!(%peer, "connection closed"),
                    Err(e) => tracing::debug!(%peer, error = %e, "connection ended"),
                }
            });
        }
    }

    /// Forgets a connection: its subscriptions end and its writer's channel closes.
    fn unregister(&self, id: ClientId) {
        let mut st = self.lock();
        st.relay.disconnect(id);
        st.senders.remove(&id);
    }

    async fn connection(&self, tcp: TcpStream) -> Result<(), Error> {
        let mut lookup = |role: ServiceRole, chain: &[Certificate], fp: &[u8; 32]| {
            // getService: a store failure or another role is BAD_SERVICE
            self.lock()
                .relay
                .register_service(role, chain, fp, unix_now())
                .map_err(|e| {
                    tracing::warn!(error = ?e, "service not registered");
                    TransportError::Handshake(HandshakeError::BadService)
                })
        };
        let handshake = async {
            let tls = self.tls.accept(tcp).await?;
            smp_server_handshake_services(tls, &self.tls, self.versions, &mut lookup).await
        };
        let (session, agreement) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| Error::Tls("handshake timeout".into()))??;
        let params = SessionParams {
            version: session.version,
            session_id: session.tls.session_id.clone(),
            server_private: session.private_key,
            service: session.service.clone(),
        };
        tracing::debug!(
            version = params.version.0,
            block_encryption = agreement.block_encryption,
            service = params.service.is_some(),
            "SMP client connected"
        );
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Transmit>>();
        let id = {
            let mut st = self.lock();
            let id = st.relay.connect(params.clone());
            st.senders.insert(id, tx);
            id
        };
        let mut writer = session.writer;
        let mut reader = session.reader;
        let mut registered = Registered {
            server: self,
            id,
            writer: None,
        };
        registered.writer = Some(tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                let ts: Vec<Vec<u8>> = batch.iter().map(|t| encode_transmit(&params, t)).collect();
                match writer.write_transmissions(&ts, true).await {
                    Ok(failed) => {
                        for (i, e) in failed {
                            tracing::warn!(item = i, error = ?e, "transmission not sent");
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = writer.shutdown().await;
        }));
        // blocks in order, each with its verification (running or done)
        let (verified_tx, mut verified_rx) = mpsc::channel::<Verifying>(VERIFY_PIPELINE);
        let read = async move {
            loop {
                match reader.read_transmissions(true).await {
                    Ok(items) => {
                        if verified_tx.send(self.start_verifying(id, items)).await.is_err() {
                            break Ok(());
                        }
                    }
                    Err(Error::Closed) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
        };
        let handle = async {
            while let Some(v) = verified_rx.recv().await {
                let (items, pre) = match v {
                    Verifying::Done(items) => (items, Preverified::default()),
                    Verifying::Running(job) => match job.await {
                        Ok(done) => done,
                        // the verification panicked: nothing sensible to answer
                        Err(_) => break,
                    },
                };
                self.dispatch(id, &items, &pre);
            }
        };
        // reading ends first (the sender is dropped), then the blocks read are handled
        let (result, ()) = tokio::join!(read, handle);
        self.unregister(id);
        // the writer ends when its channel closes, after sending what is queued
        if let Some(w) = registered.writer.take() {
            let _ = w.await;
        }
        result
    }

    /// Phases 1 and 2 of handling a block: its keys found under the lock, its signatures
    /// verified on the blocking pool.
    fn start_verifying(&self, id: ClientId, items: Items) -> Verifying {
        let job = self.lock().relay.authorization_keys(id, &items);
        match job {
            Some(job) if !job.is_empty() => Verifying::Running(tokio::task::spawn_blocking(move || {
                let pre = job.run(&items);
                (items, pre)
            })),
            _ => Verifying::Done(items),
        }
    }

    /// Phase 3: handles a block and queues what it sends to each connection.
    fn dispatch(&self, id: ClientId, items: &[Result<Vec<u8>, TransportError>], pre: &Preverified) {
        let mut st = self.lock();
        let out = st.relay.handle_block_preverified(id, unix_now(), items, pre);
        let mut by_client: Vec<(ClientId, Vec<Transmit>)> = Vec::new();
        for t in out {
            match by_client.iter_mut().find(|(c, _)| *c == t.client) {
                Some((_, v)) => v.push(t),
                None => by_client.push((t.client, vec![t])),
            }
        }
        for (c, ts) in by_client {
            if let Some(tx) = st.senders.get(&c) {
                let _ = tx.send(ts);
            }
        }
    }
}

/// The transmissions of a received block (or its transport error).
type Items = Vec<Result<Vec<u8>, TransportError>>;

/// A received block on its way to the core.
enum Verifying {
    /// Nothing to verify ahead.
    Done(Items),
    /// Its signatures being verified.
    Running(JoinHandle<(Items, Preverified)>),
}

/// A registered connection: when its task is aborted (the relay stopped) the connection is
/// forgotten and its writer task aborted, which closes the socket.
struct Registered<'a> {
    server: &'a SmpRelayServer,
    id: ClientId,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.server.unregister(self.id);
        if let Some(w) = self.writer.take() {
            w.abort();
        }
    }
}
