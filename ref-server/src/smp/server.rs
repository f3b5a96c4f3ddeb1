//! The relay's tokio shell: accepts TLS connections (ALPN `smp/1`), runs the SMP handshake
//! (certificate chain and signed session key; block encryption from v11), reads 16384-byte
//! blocks of batched transmissions, passes them to the [`Relay`] core and writes what it
//! returns to each connection.
//!
//! One task reads each connection and one writes it; the core sits behind a mutex that is
//! never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_core::OsRng;
use ref_transport::{smp_server_handshake, Error, ServerCredentials, TlsServerConfig};
use smp_proto::error_type::TransportError;
use smp_proto::server::KeyHash;
use smp_proto::version::{smp, VersionRange};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::core::{encode_transmit, ClientId, Relay, RelayConfig, SessionParams, Transmit};
use super::store::MemQueueStore;

/// The SMP versions the relay offers: v6-18, the reference's whole range. Every encoding that
/// differs between them (`NEW`, `IDS`, `SOK`, `DELD`, `ERR BLOCKED`, implied session ids,
/// the service signature field, block encryption) is implemented per version.
pub const SUPPORTED: VersionRange = smp::SUPPORTED;

/// How long the TLS and SMP handshakes of a new connection may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often kept notifications are expired.
const EXPIRE_INTERVAL: Duration = Duration::from_secs(3600);

struct State {
    relay: Relay<MemQueueStore, OsRng>,
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
    /// A relay with these credentials (ALPN `smp/1`), settings and the versions [`SUPPORTED`].
    ///
    /// # Errors
    /// [`Error::OpenSsl`] or [`Error::Credentials`] when the TLS configuration fails.
    pub fn new(credentials: &ServerCredentials, config: RelayConfig) -> Result<Self, Error> {
        let tls = TlsServerConfig::new(credentials, &[smp::ALPN])?;
        Ok(Self {
            tls: Arc::new(tls),
            versions: SUPPORTED,
            state: Arc::new(Mutex::new(State {
                relay: Relay::new(config, MemQueueStore::new(), OsRng),
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
        self.lock().relay.store().len()
    }

    /// Accepts connections on `listener` until the task is dropped.
    ///
    /// # Errors
    /// An IO error of `accept`.
    pub async fn run(self, listener: TcpListener) -> std::io::Result<()> {
        let expirer = self.clone();
        let expire_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRE_INTERVAL);
            loop {
                tick.tick().await;
                let n = expirer.lock().relay.expire(unix_now());
                if n > 0 {
                    tracing::info!(expired = n, "expired undelivered notifications");
                }
            }
        });
        let r = loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => break Err(e),
            };
            let _ = tcp.set_nodelay(true);
            let srv = self.clone();
            tokio::spawn(async move {
                match srv.connection(tcp).await {
                    Ok(()) => tracing::debug!(%peer, "connection closed"),
                    Err(e) => tracing::debug!(%peer, error = %e, "connection ended"),
                }
            });
        };
        expire_task.abort();
        r
    }

    async fn connection(&self, tcp: TcpStream) -> Result<(), Error> {
        let handshake = async {
            let tls = self.tls.accept(tcp).await?;
            smp_server_handshake(tls, &self.tls, self.versions).await
        };
        let (session, agreement) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| Error::Tls("handshake timeout".into()))??;
        let params = SessionParams {
            version: session.version,
            session_id: session.tls.session_id.clone(),
            server_private: session.private_key,
        };
        tracing::debug!(
            version = params.version.0,
            block_encryption = agreement.block_encryption,
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
        let writer_task = tokio::spawn(async move {
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
        });
        let result = loop {
            match reader.read_transmissions(true).await {
                Ok(items) => self.dispatch(id, &items),
                Err(Error::Closed) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        {
            let mut st = self.lock();
            st.relay.disconnect(id);
            st.senders.remove(&id);
        }
        // the writer ends when its channel closes, after sending what is queued
        let _ = writer_task.await;
        result
    }

    fn dispatch(&self, id: ClientId, items: &[Result<Vec<u8>, TransportError>]) {
        let mut st = self.lock();
        let out = st.relay.handle_block(id, unix_now(), items);
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
