//! The transport-client core shared by the NTF client ([`crate::client`]) and the SMP client
//! ([`crate::smp`]): TCP and TLS to a server whose identity is its key hash, a protocol
//! handshake, and then a connection that sends authorized transmissions in blocks and routes
//! each received transmission to the request with its correlation id (the reference's
//! `Simplex.Messaging.Client.ProtocolClient`: `getProtocolClient`, `sendProtocolCommands`,
//! `processMsg`). The two protocols differ only in what they give the core: the handshake, the
//! transmission parameters, the decoder of replies, whether blocks carry batches, and what
//! happens to transmissions that answer no request (SMP: events; NTF: dropped).
//!
//! ```text
//! transmission  = authorization [service-sig] [session-id] corr-id entity-id command
//! authorization = Ed25519 signature of for-auth
//!               / X25519 authenticator (crypto_box with the server's session key, nonce = corr-id)
//!               / empty
//! corr-id       = 24 random bytes; a reply carries the corr-id of its command
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use ref_transport::{
    random_array, BlockReader, BlockWriter, Error as TransportIoError, ServerCredentials,
    TlsClientConfig, TlsStream,
};
use smp_proto::block::TransportError;
use smp_proto::crypto::{
    cb_authenticate, cb_nonce, sign_ed25519_with_public, Signature, TransmissionAuth,
};
use smp_proto::keys::{AuthPrivateKey, PrivateKey};
use smp_proto::server::KeyHash;
use smp_proto::transmission::{ForAuth, RawTransmission, TransmissionParams};
use smp_proto::version::Version;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use tokio_openssl::SslStream;

use crate::signer::SignerCache;

/// The block reader of a client connection.
pub(crate) type Reader = BlockReader<ReadHalf<SslStream<TcpStream>>>;
/// The block writer of a client connection.
pub(crate) type Writer = BlockWriter<WriteHalf<SslStream<TcpStream>>>;

/// What the core can fail with; each client maps it into its own error type.
#[derive(Debug)]
pub(crate) enum CoreError {
    /// TCP, TLS, the handshake, or writing failed.
    Transport(TransportIoError),
    /// No answer in time.
    Timeout,
    /// The connection is closed.
    Closed,
    /// A transmission was not sent (`LARGE_MSG`, `NO_AUTH`).
    NotSent(TransportError),
    /// A key that cannot authorize (Ed448, X448).
    UnsupportedKey,
}

impl From<TransportIoError> for CoreError {
    fn from(e: TransportIoError) -> Self {
        Self::Transport(e)
    }
}

/// `From<CoreError>` for a client error type with the variants `Transport`, `Timeout`,
/// `Closed`, `NotSent` and `UnsupportedKey`.
macro_rules! from_core_error {
    ($t:ty) => {
        impl From<$crate::transport::CoreError> for $t {
            fn from(e: $crate::transport::CoreError) -> Self {
                use $crate::transport::CoreError;
                match e {
                    CoreError::Transport(e) => Self::Transport(e),
                    CoreError::Timeout => Self::Timeout,
                    CoreError::Closed => Self::Closed,
                    CoreError::NotSent(e) => Self::NotSent(e),
                    CoreError::UnsupportedKey => Self::UnsupportedKey,
                }
            }
        }
    };
}
pub(crate) use from_core_error;

/// A received transmission: its entity id and the decoded message, or why it did not decode.
#[derive(Debug)]
pub(crate) struct Received<M> {
    pub entity_id: Vec<u8>,
    pub msg: Result<M, String>,
}

/// Which protocol's transmission parameters a session uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// NTF (`TransmissionParams::ntf`).
    Ntf,
    /// SMP (`TransmissionParams::smp`).
    Smp,
}

impl Protocol {
    /// The transmission parameters at a session id and version.
    pub(crate) fn params(self, session_id: &[u8], v: Version) -> TransmissionParams<'_> {
        match self {
            Self::Ntf => TransmissionParams::ntf(session_id, v),
            Self::Smp => TransmissionParams::smp(session_id, v),
        }
    }
}
/// The decoder of a protocol's server messages at a version.
pub(crate) type DecodeFn<M> = fn(&[u8], Version) -> Result<M, String>;

/// TCP to `addr`, then TLS (ALPN `alpn` when given) checking the server's chain against
/// `key_hash`, then `handshake`; all within `timeout` (`getProtocolClient`).
///
/// # Errors
/// [`CoreError::Transport`], [`CoreError::Timeout`], or the handshake's error.
pub(crate) async fn open<T, F, Fut>(
    addr: SocketAddr,
    key_hash: &KeyHash,
    alpn: Option<&[u8]>,
    timeout: Duration,
    handshake: F,
) -> Result<T, CoreError>
where
    F: FnOnce(TlsStream<TcpStream>) -> Fut,
    Fut: Future<Output = Result<T, TransportIoError>>,
{
    open_as(Dial::Direct(addr), key_hash, alpn, None, timeout, handshake).await
}

/// Where the TCP connection of a session goes (the connect hook of [`open_as`]): straight
/// to an address (`connectTCPClient`), or through a SOCKS5 proxy that is asked for the
/// host as written, so that it resolves names itself (`connectSocksClient`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dial {
    /// TCP to this address.
    Direct(SocketAddr),
    /// TCP to the proxy, then SOCKS5 `CONNECT host:port`, with these credentials if any.
    Socks {
        proxy: SocketAddr,
        host: String,
        port: u16,
        credentials: Option<(String, String)>,
    },
}

impl Dial {
    /// The TCP stream, after the SOCKS5 exchange when there is one.
    async fn connect(&self) -> Result<TcpStream, TransportIoError> {
        match self {
            Self::Direct(addr) => Ok(TcpStream::connect(addr).await?),
            Self::Socks { proxy, host, port, credentials } => {
                use fast_socks5::client::{Config, Socks5Stream};
                let (host, port) = (host.clone(), *port);
                let s = match credentials {
                    None => Socks5Stream::connect(*proxy, host, port, Config::default()).await,
                    Some((u, p)) => {
                        let (u, p) = (u.clone(), p.clone());
                        Socks5Stream::connect_with_password(*proxy, host, port, u, p, Config::default())
                            .await
                    }
                };
                let s = s.map_err(|e| std::io::Error::other(format!("SOCKS5 proxy {proxy}: {e}")))?;
                Ok(s.get_socket())
            }
        }
    }
}

/// [`open`] through `dial`, presenting `client_cert` as the TLS client certificate when the server asks for
/// one (an SMP service client, the reference's `clientCredentials`).
///
/// # Errors
/// As [`open`].
pub(crate) async fn open_as<T, F, Fut>(
    dial: Dial,
    key_hash: &KeyHash,
    alpn: Option<&[u8]>,
    client_cert: Option<&ServerCredentials>,
    timeout: Duration,
    handshake: F,
) -> Result<T, CoreError>
where
    F: FnOnce(TlsStream<TcpStream>) -> Fut,
    Fut: Future<Output = Result<T, TransportIoError>>,
{
    let fut = async {
        let tcp = dial.connect().await?;
        let _ = tcp.set_nodelay(true);
        let alpn: Vec<&[u8]> = alpn.into_iter().collect();
        let tls_config = match client_cert {
            Some(c) => TlsClientConfig::with_client_certificate(&alpn, c)?,
            None => TlsClientConfig::new(&alpn)?,
        };
        let tls = tls_config.connect(tcp, key_hash).await?;
        Ok::<_, CoreError>(handshake(tls).await?)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| CoreError::Timeout)?
}

/// Encodes and authorizes transmissions of one session (`mkTransmission`). Cheap to clone;
/// usable from any thread.
#[derive(Clone, Debug)]
pub(crate) struct Encoder {
    session_id: Arc<[u8]>,
    version: Version,
    protocol: Protocol,
    /// the server's session key when X25519 authenticators can be made
    server_key: Option<[u8; 32]>,
    /// the expanded keys of the seeds signed with last
    signer: Arc<SignerCache>,
}

impl Encoder {
    /// An encoder for the session `session_id` at `version`; `server_key` is the server's
    /// session key when the session allows X25519 authenticators.
    pub(crate) fn new(
        session_id: &[u8],
        version: Version,
        protocol: Protocol,
        server_key: Option<[u8; 32]>,
    ) -> Self {
        Self {
            session_id: session_id.into(),
            version,
            protocol,
            server_key,
            signer: Arc::default(),
        }
    }

    /// One transmission with a fresh correlation id: the bytes to send and the correlation id.
    /// `key` authorizes it: an Ed25519 seed (with its public key when known, which halves the
    /// cost) signs, an X25519 key makes an authenticator with the server's session key.
    ///
    /// # Errors
    /// [`CoreError::NotSent`] `NO_AUTH` for an X25519 key without the server's key,
    /// [`CoreError::UnsupportedKey`], [`CoreError::Transport`] when the random generator fails.
    pub(crate) fn encode(
        &self,
        key: Option<(&AuthPrivateKey, Option<&[u8; 32]>)>,
        entity_id: &[u8],
        command: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
        self.encode_service(key, entity_id, command, None)
    }

    /// As [`Encoder::encode`], also signed by a service (SMP v16+, `authTransmission`): with
    /// `service` = (certificate hash, service session key seed) and a key, the key authorizes
    /// `cert-hash ++ for-auth` and the service key signs `for-auth` (the service signature).
    ///
    /// # Errors
    /// As [`Encoder::encode`].
    pub(crate) fn encode_service(
        &self,
        key: Option<(&AuthPrivateKey, Option<&[u8; 32]>)>,
        entity_id: &[u8],
        command: &[u8],
        service: Option<(&[u8; 32], &[u8; 32])>,
    ) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
        let corr_id = random_array::<24>()?.to_vec();
        let params = self.protocol.params(&self.session_id, self.version);
        let fa = ForAuth::new(&params, &corr_id, entity_id, command);
        let service = service.filter(|_| key.is_some());
        let prefixed;
        let for_auth = match service {
            Some((cert_hash, _)) => {
                prefixed = smp_proto::service::queue_authorized(cert_hash, fa.for_auth());
                &prefixed[..]
            }
            None => fa.for_auth(),
        };
        let service_sig = service.map(|(_, seed)| self.signer.sign(seed, fa.for_auth()));
        let auth = match key {
            None => None,
            Some((k, public)) => Some(match k.key() {
                PrivateKey::Ed25519(seed) => {
                    TransmissionAuth::Signature(Signature::Ed25519(match public {
                        Some(p) => sign_ed25519_with_public(seed, p, for_auth),
                        None => self.signer.sign(seed, for_auth),
                    }))
                }
                PrivateKey::X25519(private) => {
                    let server = self
                        .server_key
                        .ok_or(CoreError::NotSent(TransportError::NoAuth))?;
                    TransmissionAuth::Authenticator(cb_authenticate(
                        &server,
                        private,
                        &cb_nonce(&corr_id),
                        for_auth,
                    ))
                }
                _ => return Err(CoreError::UnsupportedKey),
            }),
        };
        let mut out = Vec::new();
        fa.encode(
            params.service_auth,
            auth.as_ref(),
            service_sig.as_ref(),
            &mut out,
        );
        Ok((out, corr_id))
    }
}

type Pending<M> = Arc<StdMutex<Option<HashMap<Vec<u8>, oneshot::Sender<Received<M>>>>>>;

/// How a connection reads and writes.
pub(crate) struct Framing<M> {
    /// The session id (`tls-unique`).
    pub session_id: Vec<u8>,
    /// The agreed version.
    pub version: Version,
    /// The protocol's transmission parameters.
    pub protocol: Protocol,
    /// The protocol's decoder of server messages.
    pub decode: DecodeFn<M>,
    /// Whether received blocks may carry batches.
    pub read_batch: bool,
    /// Whether to pack several transmissions into a block when sending.
    pub write_batch: bool,
    /// How long to wait for answers.
    pub timeout: Duration,
    /// Where transmissions that answer no request go (and blocks or transmissions that do not
    /// parse, as errors); `None` drops them.
    pub events: Option<mpsc::UnboundedSender<Received<M>>>,
}

/// A connection after the handshake: a writer shared by the requests, and a background task
/// that reads the server's transmissions and delivers them by correlation id.
#[derive(Debug)]
pub(crate) struct Connection<M> {
    writer: Mutex<Writer>,
    /// in-flight requests by correlation id; `None` once the connection is closed
    pending: Pending<M>,
    write_batch: bool,
    timeout: Duration,
    reader: JoinHandle<()>,
}

impl<M> Drop for Connection<M> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl<M: Send + 'static> Connection<M> {
    /// Starts the reading task over `reader`.
    pub(crate) fn start(mut reader: Reader, writer: Writer, framing: Framing<M>) -> Self {
        let pending: Pending<M> = Arc::new(StdMutex::new(Some(HashMap::new())));
        let Framing {
            session_id,
            version,
            protocol,
            decode,
            read_batch,
            write_batch,
            timeout,
            events,
        } = framing;
        let pending2 = pending.clone();
        let task = tokio::spawn(async move {
            while let Ok(ts) = reader.read_transmissions(read_batch).await {
                for t in ts {
                    match t {
                        Ok(t) => {
                            let params = protocol.params(&session_id, version);
                            deliver(&pending2, events.as_ref(), &params, version, decode, &t);
                        }
                        Err(e) => event(
                            events.as_ref(),
                            Received {
                                entity_id: Vec::new(),
                                msg: Err(format!("bad block: {e:?}")),
                            },
                        ),
                    }
                }
            }
            // closed: fail everything in flight and refuse new requests
            if let Ok(mut p) = pending2.lock() {
                p.take();
            }
        });
        Self {
            writer: Mutex::new(writer),
            pending,
            write_batch,
            timeout,
            reader: task,
        }
    }

    /// Sends encoded transmissions (bytes, correlation id) in one go, packed into blocks, and
    /// waits for the answer to each, all within the timeout. Items that could not be sent get
    /// [`CoreError::NotSent`], items not answered in time [`CoreError::Timeout`].
    ///
    /// # Errors
    /// [`CoreError::Closed`] or [`CoreError::Transport`] when nothing could be sent.
    pub(crate) async fn send(
        &self,
        transmissions: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<Result<Received<M>, CoreError>>, CoreError> {
        let mut rxs = Vec::with_capacity(transmissions.len());
        {
            let mut p = self.pending.lock().map_err(|_| CoreError::Closed)?;
            let map = p.as_mut().ok_or(CoreError::Closed)?;
            for (_, corr_id) in &transmissions {
                let (tx, rx) = oneshot::channel();
                map.insert(corr_id.clone(), tx);
                rxs.push(Some(rx));
            }
        }
        let ts: Vec<Vec<u8>> = transmissions.iter().map(|(t, _)| t.clone()).collect();
        let failed = {
            let mut w = self.writer.lock().await;
            match w.write_transmissions(&ts, self.write_batch).await {
                Ok(f) => f,
                Err(e) => {
                    self.forget(&transmissions);
                    return Err(e.into());
                }
            }
        };
        let mut out: Vec<Option<Result<Received<M>, CoreError>>> =
            (0..transmissions.len()).map(|_| None).collect();
        for (i, e) in failed {
            if let (Some(slot), Some(rx)) = (out.get_mut(i), rxs.get_mut(i)) {
                *slot = Some(Err(CoreError::NotSent(e)));
                *rx = None;
                self.forget(&transmissions[i..=i]);
            }
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        for (i, rx) in rxs.into_iter().enumerate() {
            let Some(rx) = rx else { continue };
            out[i] = Some(match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(_)) => Err(CoreError::Closed),
                Err(_) => {
                    self.forget(&transmissions[i..=i]);
                    Err(CoreError::Timeout)
                }
            });
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or(Err(CoreError::Closed)))
            .collect())
    }

    fn forget(&self, transmissions: &[(Vec<u8>, Vec<u8>)]) {
        if let Ok(mut p) = self.pending.lock() {
            if let Some(m) = p.as_mut() {
                for (_, c) in transmissions {
                    m.remove(c);
                }
            }
        }
    }
}

fn event<M>(events: Option<&mpsc::UnboundedSender<Received<M>>>, r: Received<M>) {
    if let Some(tx) = events {
        let _ = tx.send(r);
    }
}

/// Routes one received transmission: to the request with its correlation id, or to the
/// events (`processMsg`: a transmission with an empty or unknown correlation id is an event).
fn deliver<M>(
    pending: &Pending<M>,
    events: Option<&mpsc::UnboundedSender<Received<M>>>,
    params: &TransmissionParams<'_>,
    v: Version,
    decode: DecodeFn<M>,
    t: &[u8],
) {
    let Ok(raw) = RawTransmission::decode(t, params) else {
        event(
            events,
            Received {
                entity_id: Vec::new(),
                msg: Err("bad transmission".into()),
            },
        );
        return;
    };
    let msg = match raw.check_client(params) {
        Err(e) => Err(format!("transport error {e:?}")),
        Ok(()) => decode(raw.command, v),
    };
    let received = Received {
        entity_id: raw.entity_id.to_vec(),
        msg,
    };
    let tx = if raw.corr_id.is_empty() {
        None
    } else {
        pending
            .lock()
            .ok()
            .and_then(|mut p| p.as_mut().and_then(|m| m.remove(raw.corr_id)))
    };
    match tx {
        Some(tx) => {
            let _ = tx.send(received);
        }
        None => event(events, received),
    }
}
