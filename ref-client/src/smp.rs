//! An async SMP client (the reference's `Simplex.Messaging.Client` subset): connects to a relay
//! over TLS (ALPN `smp/1`, the relay's identity checked against the key hash), runs the SMP
//! handshake (block encryption from v11), and sends queue commands as the recipient, the sender
//! and the notifier.
//!
//! ```text
//! transmission = authorization [service-sig] [session-id] corr-id entity-id command
//! authorization = Ed25519 signature of for-auth / X25519 authenticator (v7+) / empty
//! corr-id       = 24 random bytes; the relay's replies carry it, deliveries (MSG, NMSG, END,
//!                 DELD) carry an empty one and arrive as [`SmpEvent`]s
//! ```
//!
//! Service clients (SMP v16+): with [`SmpClientConfig::service`] the client presents its
//! service certificate in TLS and in the handshake and gets a service id
//! ([`SmpClient::service`]); in such a session `NEW`, `SUB` and `NSUB` are signed twice (the
//! queue key over `cert-hash ++ authorized`, the service session key over `authorized`, see
//! [`smp_proto::service`]), [`SmpClient::subscribe_service_notifications`] sends `NSUBS` and
//! returns the `SOKS` count, and the relay's `ENDS n` (another session of the same service
//! subscribed) arrives as an [`SmpEvent`] whose entity id is the service id.
//!
//! Message bodies are decrypted with [`decrypt_msg`] (the recipient's DH secret with the
//! relay's key from `IDS`), notification metadata with [`decrypt_nmsg`] (the recipient's
//! notifier DH secret with the relay's key from `NID`).

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use ref_transport::{
    random_array, smp_client_handshake_service, Error as TransportIoError, SessionService,
    SmpServiceCredentials, TlsInfo,
};
use smp_proto::broker::{BrokerMsg, NONCE_LEN};
use smp_proto::command::{
    NewNtfCreds, NewQueueReq, QueueMode, QueueReqData, SmpCommand, SubscriptionMode,
};
use smp_proto::crypto::{dh, ed25519_public, x25519_public, CryptoError};
use smp_proto::error_type::{ErrorType, TransportError};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::message::{MsgFlags, NMsgMeta, RcvMsgBody};
use smp_proto::server::{KeyHash, SmpServer};
use smp_proto::version::{smp, Version, VersionRange};
use tokio::sync::{mpsc, Mutex};

use crate::socks::NetworkConfig;
use crate::transport::{self, Connection, Dial, Encoder, Framing, Protocol, Received};

/// A failure of an SMP client request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmpClientError {
    /// The connection or the handshake failed.
    #[error("transport: {0}")]
    Transport(#[from] TransportIoError),
    /// The relay answered `ERR`.
    #[error("relay error: {0:?}")]
    Server(ErrorType),
    /// A reply that is not the answer to the command (type or entity id).
    #[error("unexpected response {0:?}")]
    UnexpectedResponse(Box<BrokerMsg>),
    /// The reply did not decode or broke the credential rules of server messages.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// No reply (or event) in time.
    #[error("timeout")]
    Timeout,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// The command could not be sent (`LARGE_MSG`; `NO_AUTH` for an X25519 key before v7).
    #[error("not sent: {0:?}")]
    NotSent(TransportError),
    /// A key the client cannot authorize with (Ed448, X448).
    #[error("unsupported authorization key")]
    UnsupportedKey,
    /// A message or notification did not decrypt.
    #[error("decryption: {0:?}")]
    Crypto(CryptoError),
    /// The relay address cannot be connected to.
    #[error("address: {0}")]
    Address(String),
    /// A service command on a session that is not a service session (the reference's
    /// `PCEServiceUnavailable`).
    #[error("not a service session")]
    NoService,
}

crate::transport::from_core_error!(SmpClientError);

/// How to connect.
#[derive(Clone, Debug)]
pub struct SmpClientConfig {
    /// The SMP versions the client speaks (default 6-18).
    pub versions: VersionRange,
    /// Offer ALPN `smp/1` (without it a relay offers only v6).
    pub alpn: bool,
    /// Port used when the address has none (the reference's default is 5223).
    pub default_port: u16,
    /// How long to wait for a reply (and for the TCP, TLS and SMP handshakes).
    pub timeout: Duration,
    /// Connect as a service (default none): the certificate is presented in TLS and, at v16+,
    /// in the handshake; a relay that refuses it fails the connection with its `HANDSHAKE`
    /// error ([`SmpClientError::Transport`]). Below v16 the session is a plain one.
    pub service: Option<SmpServiceCredentials>,
    /// Which host of a relay address is used and when a SOCKS5 proxy carries the connection
    /// (default: the first public host, no proxy).
    pub network: NetworkConfig,
}

impl Default for SmpClientConfig {
    fn default() -> Self {
        Self {
            versions: smp::SUPPORTED,
            alpn: true,
            default_port: 5223,
            timeout: Duration::from_secs(15),
            service: None,
            network: NetworkConfig::default(),
        }
    }
}

/// A transmission from the relay that answers no command: `MSG` after `SUB` or `SEND`,
/// `NMSG`, `END`, `DELD`, or an `ERR` without a correlation id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpEvent {
    /// The queue or notifier id.
    pub entity_id: Vec<u8>,
    /// The message, or why it did not decode.
    pub msg: Result<BrokerMsg, String>,
}

/// An authorization key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthKeyPair {
    /// The private key (signs or authenticates commands).
    pub private: AuthPrivateKey,
    /// The public key (sent to the relay).
    pub public: AuthPublicKey,
}

impl AuthKeyPair {
    /// A fresh Ed25519 key pair (usable at every version).
    ///
    /// # Errors
    /// [`TransportIoError::OpenSsl`] when the random generator fails.
    pub fn ed25519() -> Result<Self, TransportIoError> {
        let seed = random_array::<32>()?;
        Self::pair(
            PrivateKey::Ed25519(seed),
            PublicKey::Ed25519(ed25519_public(&seed)),
        )
    }

    /// A fresh X25519 key pair (authenticators, v7+).
    ///
    /// # Errors
    /// [`TransportIoError::OpenSsl`] when the random generator fails.
    pub fn x25519() -> Result<Self, TransportIoError> {
        let k = random_array::<32>()?;
        Self::pair(PrivateKey::X25519(k), PublicKey::X25519(x25519_public(&k)))
    }

    fn pair(private: PrivateKey, public: PublicKey) -> Result<Self, TransportIoError> {
        match (AuthPrivateKey::new(private), AuthPublicKey::new(public)) {
            (Some(private), Some(public)) => Ok(Self { private, public }),
            _ => Err(TransportIoError::Credentials(
                "not an authorization key".into(),
            )),
        }
    }
}

/// An X25519 key pair for DH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhKeyPair {
    /// The private scalar.
    pub private: [u8; 32],
    /// The public key.
    pub public: X25519PublicKey,
}

impl DhKeyPair {
    /// A fresh key pair.
    ///
    /// # Errors
    /// [`TransportIoError::OpenSsl`] when the random generator fails.
    pub fn generate() -> Result<Self, TransportIoError> {
        let private = random_array::<32>()?;
        Ok(Self {
            private,
            public: X25519PublicKey(x25519_public(&private)),
        })
    }
}

/// A queue as its recipient knows it (after `NEW`).
#[derive(Clone, Debug)]
pub struct RecipientQueue {
    /// The recipient id (entity id of recipient commands).
    pub rcv_id: Vec<u8>,
    /// The sender id (given to the sender).
    pub snd_id: Vec<u8>,
    /// The recipient's key.
    pub rcv_key: AuthKeyPair,
    /// DH secret of the recipient's key and the relay's: decrypts `MSG` bodies.
    pub rcv_dh_secret: [u8; 32],
    /// The queue mode the relay reported (v9+).
    pub queue_mode: Option<QueueMode>,
}

/// Notifier credentials as the recipient creates them with `NKEY` (the notifier id and key go
/// to the notification server, the DH secret decrypts `NMSG` metadata).
#[derive(Clone, Debug)]
pub struct NotifierCreds {
    /// The notifier id (`NSUB` entity id).
    pub notifier_id: Vec<u8>,
    /// The key that authorizes `NSUB`.
    pub notifier_key: AuthKeyPair,
    /// DH secret of the recipient's notification key and the relay's (`NID` key).
    pub rcv_ntf_dh_secret: [u8; 32],
}

/// The DH secret that decrypts `NMSG` metadata: the relay's key from `NID` with the
/// recipient's private key sent in `NKEY`.
pub fn rcv_ntf_dh_secret(relay_key: &X25519PublicKey, private: &[u8; 32]) -> [u8; 32] {
    dh(&relay_key.0, private)
}

/// Decrypts a `MSG` body with the queue's recipient DH secret.
///
/// # Errors
/// [`CryptoError`] when it does not open or parse.
pub fn decrypt_msg(
    rcv_dh_secret: &[u8; 32],
    msg_id: &[u8],
    enc_body: &[u8],
) -> Result<RcvMsgBody, CryptoError> {
    RcvMsgBody::decrypt(rcv_dh_secret, msg_id, enc_body)
}

/// Decrypts the metadata of an `NMSG` with the recipient's notifier DH secret.
///
/// # Errors
/// [`CryptoError`] when it does not open or parse.
pub fn decrypt_nmsg(
    rcv_ntf_dh_secret: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    enc_meta: &[u8],
) -> Result<NMsgMeta, CryptoError> {
    NMsgMeta::decrypt(rcv_ntf_dh_secret, nonce, enc_meta)
}

/// A connected SMP client. Commands may be sent concurrently from several tasks; a background
/// task reads replies and events.
#[derive(Debug)]
pub struct SmpClient {
    conn: Connection<BrokerMsg>,
    events: Mutex<mpsc::UnboundedReceiver<Received<BrokerMsg>>>,
    tls: TlsInfo,
    version: Version,
    server_key: Option<[u8; 32]>,
    block_encryption: bool,
    timeout: Duration,
    encoder: SmpEncoder,
}

/// What encoding and authorizing a transmission of a connection needs: its session id,
/// version and the relay's session key, and the signing keys cache. Cheap to clone; usable
/// from any thread.
#[derive(Clone, Debug)]
pub struct SmpEncoder {
    inner: Encoder,
    version: Version,
    /// the session's service: id, cert hash and session key seed
    service: Option<Arc<SessionService>>,
}

impl SmpEncoder {
    /// Encodes one transmission with a fresh correlation id: the bytes and the correlation id.
    ///
    /// # Errors
    /// [`SmpClientError::NotSent`] `NO_AUTH` for an X25519 key without the relay's key,
    /// [`SmpClientError::UnsupportedKey`].
    pub fn encode(
        &self,
        key: Option<&AuthPrivateKey>,
        entity_id: &[u8],
        command: &SmpCommand,
    ) -> Result<(Vec<u8>, Vec<u8>), SmpClientError> {
        self.encode_with(key.map(|k| (k, None)), entity_id, command)
    }

    /// As [`SmpEncoder::encode`] with a key whose Ed25519 public key is known (given with
    /// it): the signature is made without deriving the public key again, for about half the
    /// cost (see [`smp_proto::crypto::sign_ed25519_with_public`]). For keys used once each,
    /// as a server resubscribing many queues (`NSUB`). The public key is trusted: a wrong one
    /// gives a signature the relay refuses (`AUTH`).
    ///
    /// # Errors
    /// As [`SmpEncoder::encode`].
    pub fn encode_known(
        &self,
        key: &AuthPrivateKey,
        ed25519_public: Option<&[u8; 32]>,
        entity_id: &[u8],
        command: &SmpCommand,
    ) -> Result<(Vec<u8>, Vec<u8>), SmpClientError> {
        self.encode_with(Some((key, ed25519_public)), entity_id, command)
    }

    fn encode_with(
        &self,
        key: Option<(&AuthPrivateKey, Option<&[u8; 32]>)>,
        entity_id: &[u8],
        command: &SmpCommand,
    ) -> Result<(Vec<u8>, Vec<u8>), SmpClientError> {
        // authTransmission: in a service session NEW/SUB/NSUB are signed by the service too
        let service = self
            .service
            .as_deref()
            .filter(|_| command.uses_service_auth())
            .map(|sv| (&sv.cert_hash, &sv.key));
        Ok(self
            .inner
            .encode_service(key, entity_id, &command.to_vec(self.version), service)?)
    }

    /// Encodes a service command (`NSUBS`) with a fresh correlation id: the entity id is the
    /// service id, the authorization the service session key's Ed25519 signature, and there is
    /// no service signature (`subscribeService`).
    ///
    /// # Errors
    /// [`SmpClientError::NoService`] outside a service session.
    pub fn encode_service(
        &self,
        command: &SmpCommand,
    ) -> Result<(Vec<u8>, Vec<u8>), SmpClientError> {
        let sv = self.service.as_deref().ok_or(SmpClientError::NoService)?;
        let key = AuthPrivateKey::new(PrivateKey::Ed25519(sv.key))
            .ok_or(SmpClientError::UnsupportedKey)?;
        Ok(self.inner.encode(
            Some((&key, None)),
            &sv.service_id,
            &command.to_vec(self.version),
        )?)
    }
}

impl SmpClient {
    /// Connects to `server` (`smp://<key hash>@host[,host...][:port]`): the host that
    /// `config.network` chooses, through its SOCKS5 proxy when it uses one for that host (see
    /// [`crate::socks`]), then TLS with the key hash check and the SMP handshake.
    ///
    /// # Errors
    /// [`SmpClientError::Address`], [`SmpClientError::Transport`], [`SmpClientError::Timeout`].
    pub async fn connect(
        server: &SmpServer,
        config: &SmpClientConfig,
    ) -> Result<Self, SmpClientError> {
        crate::addr::connect_chosen(
            server,
            config.default_port,
            &config.network,
            SmpClientError::Address,
            |dial| Self::connect_dial(dial, server.key_hash(), config),
        )
        .await
    }

    /// Connects to a socket address and expects the relay identity `key_hash`.
    ///
    /// # Errors
    /// As [`SmpClient::connect`].
    pub async fn connect_addr(
        addr: SocketAddr,
        key_hash: &KeyHash,
        config: &SmpClientConfig,
    ) -> Result<Self, SmpClientError> {
        Self::connect_dial(Dial::Direct(addr), key_hash, config).await
    }

    async fn connect_dial(
        dial: Dial,
        key_hash: &KeyHash,
        config: &SmpClientConfig,
    ) -> Result<Self, SmpClientError> {
        let alpn = config.alpn.then_some(smp::ALPN);
        let service = config.service.as_ref();
        let client_cert = service.map(SmpServiceCredentials::credentials);
        let (session, agreement) =
            transport::open_as(dial, key_hash, alpn, client_cert, config.timeout, |tls| {
                smp_client_handshake_service(tls, key_hash, config.versions, false, service)
            })
            .await?;
        let version = session.version;
        let block_encryption = session.block_encryption();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let framing = Framing {
            session_id: session.tls.session_id.clone(),
            version,
            protocol: Protocol::Smp,
            decode: decode_broker_msg,
            read_batch: true,
            write_batch: true,
            timeout: config.timeout,
            events: Some(ev_tx),
        };
        // authenticators need the relay's session key, sent from v7
        let auth_key = agreement.server_key.filter(|_| version >= smp::AUTH_CMDS);
        let encoder = SmpEncoder {
            inner: Encoder::new(&session.tls.session_id, version, Protocol::Smp, auth_key),
            version,
            service: session.service.clone().map(Arc::new),
        };
        Ok(Self {
            conn: Connection::start(session.reader, session.writer, framing),
            events: Mutex::new(ev_rx),
            tls: session.tls,
            version,
            server_key: agreement.server_key,
            block_encryption,
            timeout: config.timeout,
            encoder,
        })
    }

    /// The negotiated SMP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The session id (`tls-unique`).
    pub fn session_id(&self) -> &[u8] {
        &self.tls.session_id
    }

    /// The TLS session details (ALPN, the relay's chain).
    pub fn tls(&self) -> &TlsInfo {
        &self.tls
    }

    /// Whether blocks are encrypted (v11+).
    pub fn block_encryption(&self) -> bool {
        self.block_encryption
    }

    /// The relay's verified session DH key (v7+), used for X25519 authenticators.
    pub fn server_key(&self) -> Option<[u8; 32]> {
        self.server_key
    }

    /// The session's service, when connected as one at v16+: the relay's service id, the
    /// certificate hash and the session key.
    pub fn service(&self) -> Option<&SessionService> {
        self.encoder.service.as_deref()
    }

    /// Encodes one transmission with a fresh correlation id: the bytes and the correlation id.
    ///
    /// # Errors
    /// As [`SmpEncoder::encode`].
    pub fn encode_transmission(
        &self,
        key: Option<&AuthPrivateKey>,
        entity_id: &[u8],
        command: &SmpCommand,
    ) -> Result<(Vec<u8>, Vec<u8>), SmpClientError> {
        self.encoder.encode(key, entity_id, command)
    }

    /// The connection's transmission encoder, to sign commands on another thread (e.g. a
    /// large batch on the blocking pool) and send them with [`SmpClient::send_encoded`].
    pub fn encoder(&self) -> SmpEncoder {
        self.encoder.clone()
    }

    /// Sends commands in one go (batched) and returns each reply; `ERR` is
    /// [`SmpClientError::Server`].
    ///
    /// # Errors
    /// [`SmpClientError::Closed`] or [`SmpClientError::Transport`] when nothing could be sent.
    pub async fn send_commands(
        &self,
        commands: &[(Option<&AuthPrivateKey>, &[u8], &SmpCommand)],
    ) -> Result<Vec<Result<BrokerMsg, SmpClientError>>, SmpClientError> {
        let mut encoded = Vec::with_capacity(commands.len());
        for (key, entity, cmd) in commands {
            encoded.push(self.encode_transmission(*key, entity, cmd)?);
        }
        let entities: Vec<&[u8]> = commands.iter().map(|c| c.1).collect();
        self.send_encoded(encoded, &entities).await
    }

    /// Sends transmissions made by [`SmpEncoder::encode`] (bytes and correlation id) in one
    /// go and returns each reply, as [`SmpClient::send_commands`]; `entities` are their
    /// entity ids, in the same order.
    ///
    /// # Errors
    /// As [`SmpClient::send_commands`].
    pub async fn send_encoded(
        &self,
        encoded: Vec<(Vec<u8>, Vec<u8>)>,
        entities: &[&[u8]],
    ) -> Result<Vec<Result<BrokerMsg, SmpClientError>>, SmpClientError> {
        Ok(self
            .conn
            .send(encoded)
            .await?
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let r = r?;
                interpret(
                    entities.get(i).copied().unwrap_or_default(),
                    r.entity_id,
                    r.msg,
                )
            })
            .collect())
    }

    /// Sends one command and returns the reply; `ERR` is [`SmpClientError::Server`].
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn send_command(
        &self,
        key: Option<&AuthPrivateKey>,
        entity_id: &[u8],
        command: &SmpCommand,
    ) -> Result<BrokerMsg, SmpClientError> {
        self.send_commands(&[(key, entity_id, command)])
            .await?
            .pop()
            .unwrap_or(Err(SmpClientError::Closed))
    }

    async fn ok_command(
        &self,
        key: &AuthPrivateKey,
        entity: &[u8],
        cmd: &SmpCommand,
    ) -> Result<(), SmpClientError> {
        match self.send_command(Some(key), entity, cmd).await? {
            BrokerMsg::Ok | BrokerMsg::Sok { .. } => Ok(()),
            r => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
        }
    }

    /// The next event (delivery) within the client's timeout.
    ///
    /// # Errors
    /// [`SmpClientError::Timeout`], or [`SmpClientError::Closed`] when the connection ended.
    pub async fn next_event(&self) -> Result<SmpEvent, SmpClientError> {
        self.next_event_within(self.timeout).await
    }

    /// The next event within `timeout`.
    ///
    /// # Errors
    /// As [`SmpClient::next_event`].
    pub async fn next_event_within(&self, timeout: Duration) -> Result<SmpEvent, SmpClientError> {
        let mut rx = self.events.lock().await;
        match tokio::time::timeout(timeout, rx.recv()).await {
            Ok(Some(Received { entity_id, msg })) => {
                let msg = msg.and_then(|m| {
                    m.check_credentials(&entity_id)
                        .map(|()| m)
                        .map_err(|e| format!("bad event credentials: {e:?}"))
                });
                Ok(SmpEvent { entity_id, msg })
            }
            Ok(None) => Err(SmpClientError::Closed),
            Err(_) => Err(SmpClientError::Timeout),
        }
    }

    /// `PING` -> `PONG`.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn ping(&self) -> Result<(), SmpClientError> {
        match self.send_command(None, b"", &SmpCommand::Ping).await? {
            BrokerMsg::Pong => Ok(()),
            r => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
        }
    }

    /// `NEW` -> `IDS`: creates a queue with fresh recipient keys (Ed25519 authorization).
    /// A messaging queue (`sender_can_secure`, v9+) can be secured by the sender with `SKEY`.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn create_queue(
        &self,
        sub_mode: SubscriptionMode,
        sender_can_secure: bool,
    ) -> Result<RecipientQueue, SmpClientError> {
        self.create_queue_with(sub_mode, sender_can_secure, None, None)
            .await
            .map(|(q, _)| q)
    }

    /// `NEW` with every option: basic auth, and notifier credentials created with the queue
    /// (v17+; returned when the relay created them).
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn create_queue_with(
        &self,
        sub_mode: SubscriptionMode,
        sender_can_secure: bool,
        basic_auth: Option<&[u8]>,
        notifier_key: Option<AuthKeyPair>,
    ) -> Result<(RecipientQueue, Option<NotifierCreds>), SmpClientError> {
        let rcv_key = AuthKeyPair::ed25519()?;
        let dh_keys = DhKeyPair::generate()?;
        let ntf_dh = DhKeyPair::generate()?;
        let req = NewQueueReq {
            rcv_auth_key: rcv_key.public,
            rcv_dh_key: dh_keys.public,
            basic_auth: basic_auth.map(<[u8]>::to_vec),
            sub_mode,
            queue_req_data: Some(if sender_can_secure {
                QueueReqData::Messaging(None)
            } else {
                QueueReqData::Contact(None)
            }),
            ntf_creds: notifier_key.as_ref().map(|k| NewNtfCreds {
                notifier_key: k.public,
                dh_key: ntf_dh.public,
            }),
        };
        match self
            .send_command(Some(&rcv_key.private), b"", &SmpCommand::New(Box::new(req)))
            .await?
        {
            BrokerMsg::Ids(ids) => {
                let ntf = match (ids.server_ntf_creds, notifier_key) {
                    (Some(c), Some(k)) => Some(NotifierCreds {
                        notifier_id: c.notifier_id,
                        notifier_key: k,
                        rcv_ntf_dh_secret: rcv_ntf_dh_secret(&c.dh_key, &ntf_dh.private),
                    }),
                    _ => None,
                };
                Ok((
                    RecipientQueue {
                        rcv_id: ids.rcv_id,
                        snd_id: ids.snd_id,
                        rcv_key,
                        rcv_dh_secret: dh(&ids.rcv_public_dh_key.0, &dh_keys.private),
                        queue_mode: ids.queue_mode,
                    },
                    ntf,
                ))
            }
            r => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
        }
    }

    /// `KEY`: the recipient secures the queue with the sender's key.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn secure_queue(
        &self,
        q: &RecipientQueue,
        sender_key: &AuthPublicKey,
    ) -> Result<(), SmpClientError> {
        self.ok_command(
            &q.rcv_key.private,
            &q.rcv_id,
            &SmpCommand::Key {
                sender_key: *sender_key,
            },
        )
        .await
    }

    /// `SKEY`: the sender secures a messaging queue with its own key (v9+).
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn secure_queue_sender(
        &self,
        snd_id: &[u8],
        sender_key: &AuthKeyPair,
    ) -> Result<(), SmpClientError> {
        self.ok_command(
            &sender_key.private,
            snd_id,
            &SmpCommand::Skey {
                sender_key: sender_key.public,
            },
        )
        .await
    }

    /// `NKEY` -> `NID`: enables notifications with a fresh notifier key and DH key.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn enable_notifications(
        &self,
        q: &RecipientQueue,
    ) -> Result<NotifierCreds, SmpClientError> {
        let notifier_key = AuthKeyPair::ed25519()?;
        let dh_keys = DhKeyPair::generate()?;
        let cmd = SmpCommand::Nkey {
            notifier_key: notifier_key.public,
            dh_key: dh_keys.public,
        };
        match self
            .send_command(Some(&q.rcv_key.private), &q.rcv_id, &cmd)
            .await?
        {
            BrokerMsg::Nid {
                notifier_id,
                dh_key,
            } => Ok(NotifierCreds {
                notifier_id,
                notifier_key,
                rcv_ntf_dh_secret: rcv_ntf_dh_secret(&dh_key, &dh_keys.private),
            }),
            r => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
        }
    }

    /// `NDEL`: disables notifications.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn disable_notifications(&self, q: &RecipientQueue) -> Result<(), SmpClientError> {
        self.ok_command(&q.rcv_key.private, &q.rcv_id, &SmpCommand::Ndel)
            .await
    }

    /// `SEND`: sends a message as the sender (`key` once the queue is secured).
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn send_message(
        &self,
        snd_id: &[u8],
        key: Option<&AuthPrivateKey>,
        flags: MsgFlags,
        body: &[u8],
    ) -> Result<(), SmpClientError> {
        let cmd = SmpCommand::Send {
            flags,
            body: body.to_vec(),
        };
        match self.send_command(key, snd_id, &cmd).await? {
            BrokerMsg::Ok => Ok(()),
            r => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
        }
    }

    /// `SUB`: subscribes to the queue (`OK`, or `SOK` from v16); the first message follows as
    /// an [`SmpEvent`].
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn subscribe(&self, q: &RecipientQueue) -> Result<(), SmpClientError> {
        self.ok_command(&q.rcv_key.private, &q.rcv_id, &SmpCommand::Sub)
            .await
    }

    /// `GET`: one message (id and decrypted body) or `None`.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn get_message(
        &self,
        q: &RecipientQueue,
    ) -> Result<Option<(Vec<u8>, RcvMsgBody)>, SmpClientError> {
        let r = self
            .send_command(Some(&q.rcv_key.private), &q.rcv_id, &SmpCommand::Get)
            .await?;
        msg_or_ok(q, r)
    }

    /// `ACK`: acknowledges a delivered message; returns the next message when the relay
    /// delivers it with the reply (after `SUB`).
    ///
    /// # Errors
    /// As [`SmpClientError`] (`NO_MSG` when it was not delivered).
    pub async fn ack(
        &self,
        q: &RecipientQueue,
        msg_id: &[u8],
    ) -> Result<Option<(Vec<u8>, RcvMsgBody)>, SmpClientError> {
        let cmd = SmpCommand::Ack {
            msg_id: msg_id.to_vec(),
        };
        let r = self
            .send_command(Some(&q.rcv_key.private), &q.rcv_id, &cmd)
            .await?;
        msg_or_ok(q, r)
    }

    /// `OFF`: suspends the queue.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn suspend_queue(&self, q: &RecipientQueue) -> Result<(), SmpClientError> {
        self.ok_command(&q.rcv_key.private, &q.rcv_id, &SmpCommand::Off)
            .await
    }

    /// `DEL`: deletes the queue.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn delete_queue(&self, q: &RecipientQueue) -> Result<(), SmpClientError> {
        self.ok_command(&q.rcv_key.private, &q.rcv_id, &SmpCommand::Del)
            .await
    }

    /// `NSUB`: subscribes to the notifications of one queue (`OK`, or `SOK` from v16); `NMSG`,
    /// `END` and `DELD` follow as [`SmpEvent`]s.
    ///
    /// # Errors
    /// As [`SmpClientError`].
    pub async fn subscribe_notifications(
        &self,
        notifier_id: &[u8],
        notifier_key: &AuthPrivateKey,
    ) -> Result<(), SmpClientError> {
        self.ok_command(notifier_key, notifier_id, &SmpCommand::Nsub)
            .await
    }

    /// `NSUB` for many queues in batches; one result per queue.
    ///
    /// # Errors
    /// [`SmpClientError::Closed`] or [`SmpClientError::Transport`] when nothing could be sent.
    pub async fn subscribe_notifications_many(
        &self,
        subs: &[(&[u8], &AuthPrivateKey)],
    ) -> Result<Vec<Result<(), SmpClientError>>, SmpClientError> {
        let cmds: Vec<(Option<&AuthPrivateKey>, &[u8], &SmpCommand)> = subs
            .iter()
            .map(|(id, k)| (Some(*k), *id, &SmpCommand::Nsub))
            .collect();
        Ok(self
            .send_commands(&cmds)
            .await?
            .into_iter()
            .map(subscribed)
            .collect())
    }
}

impl SmpClient {
    /// `NSUBS` (`subscribeService`): subscribes every queue the relay associates with this
    /// service; returns the count of `SOKS n`. Their `NMSG` follow as [`SmpEvent`]s, and
    /// `ENDS n` (entity id: the service id) when another session of the service subscribes.
    ///
    /// # Errors
    /// [`SmpClientError::NoService`] outside a service session; `ERR` (e.g. `SERVICE`) as
    /// [`SmpClientError::Server`]; any other reply is [`SmpClientError::UnexpectedResponse`].
    pub async fn subscribe_service_notifications(&self) -> Result<i64, SmpClientError> {
        let encoded = self.encoder.encode_service(&SmpCommand::Nsubs)?;
        let id = self
            .service()
            .map(|s| s.service_id.clone())
            .unwrap_or_default();
        let reply = self
            .send_encoded(vec![encoded], &[&id])
            .await?
            .pop()
            .unwrap_or(Err(SmpClientError::Closed))?;
        match reply {
            BrokerMsg::Soks { count } => Ok(count),
            r => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
        }
    }
}

/// A reply to `NSUB` (or `SUB`) as a result: `OK`/`SOK` is success, any other reply is
/// [`SmpClientError::UnexpectedResponse`].
///
/// # Errors
/// The error given, or the unexpected reply.
pub fn subscribed(reply: Result<BrokerMsg, SmpClientError>) -> Result<(), SmpClientError> {
    match reply {
        Ok(BrokerMsg::Ok | BrokerMsg::Sok { .. }) => Ok(()),
        Ok(r) => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
        Err(e) => Err(e),
    }
}

fn msg_or_ok(
    q: &RecipientQueue,
    r: BrokerMsg,
) -> Result<Option<(Vec<u8>, RcvMsgBody)>, SmpClientError> {
    match r {
        BrokerMsg::Ok => Ok(None),
        BrokerMsg::Msg { msg_id, enc_body } => {
            let body = decrypt_msg(&q.rcv_dh_secret, &msg_id, &enc_body)
                .map_err(SmpClientError::Crypto)?;
            Ok(Some((msg_id, body)))
        }
        r => Err(SmpClientError::UnexpectedResponse(Box::new(r))),
    }
}

/// Decodes a server message of SMP at `v`.
fn decode_broker_msg(command: &[u8], v: Version) -> Result<BrokerMsg, String> {
    BrokerMsg::decode(command, v).map_err(|e| e.to_string())
}

/// A reply as the result of a command sent with `entity_id`.
fn interpret(
    entity_id: &[u8],
    reply_entity: Vec<u8>,
    msg: Result<BrokerMsg, String>,
) -> Result<BrokerMsg, SmpClientError> {
    let m = msg.map_err(SmpClientError::BadResponse)?;
    if let BrokerMsg::Err { error } = m {
        return Err(SmpClientError::Server(error));
    }
    if reply_entity != entity_id {
        return Err(SmpClientError::UnexpectedResponse(Box::new(m)));
    }
    m.check_credentials(&reply_entity)
        .map_err(|e| SmpClientError::BadResponse(format!("{e:?}")))?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpret_replies() {
        assert!(matches!(
            interpret(b"q", b"q".to_vec(), Ok(BrokerMsg::Ok)),
            Ok(BrokerMsg::Ok)
        ));
        assert!(matches!(
            interpret(b"q", b"r".to_vec(), Ok(BrokerMsg::Ok)),
            Err(SmpClientError::UnexpectedResponse(ref b)) if **b == BrokerMsg::Ok
        ));
        assert!(matches!(
            interpret(
                b"q",
                Vec::new(),
                Ok(BrokerMsg::Err {
                    error: ErrorType::Auth
                })
            ),
            Err(SmpClientError::Server(ErrorType::Auth))
        ));
        // OK needs an entity id
        assert!(matches!(
            interpret(b"", Vec::new(), Ok(BrokerMsg::Ok)),
            Err(SmpClientError::BadResponse(_))
        ));
        assert!(matches!(
            interpret(b"q", b"q".to_vec(), Err("x".into())),
            Err(SmpClientError::BadResponse(_))
        ));
    }

    #[test]
    fn service_session_signs_twice() {
        // authTransmission: NSUB in a service session; verifyQueueTransmission's checks
        use smp_proto::crypto::verify_authorization;
        use smp_proto::service::{
            check_service_command, check_service_signature, queue_authorized,
        };
        use smp_proto::transmission::{RawTransmission, TransmissionParams};
        let sv = SessionService {
            service_id: b"svc".to_vec(),
            role: smp_proto::handshake::ServiceRole::Notifier,
            cert_hash: [5; 32],
            key: [6; 32],
        };
        let enc = SmpEncoder {
            inner: Encoder::new(b"session", smp::CURRENT, Protocol::Smp, None),
            version: smp::CURRENT,
            service: Some(Arc::new(sv.clone())),
        };
        let k = AuthKeyPair::ed25519().unwrap();
        let service_public = ed25519_public(&sv.key);
        let params = TransmissionParams::smp(b"session", smp::CURRENT);
        let (t, _) = enc
            .encode(Some(&k.private), b"nid", &SmpCommand::Nsub)
            .unwrap();
        let raw = RawTransmission::decode(&t, &params).unwrap();
        let auth = raw.authorization().unwrap();
        let authorized = raw.authorized();
        let sig = raw.service_signature.unwrap();
        assert!(check_service_signature(
            true,
            Some(&service_public),
            Some(sig),
            &authorized
        ));
        let prefixed = queue_authorized(&sv.cert_hash, &authorized);
        assert!(verify_authorization(
            auth.as_ref(),
            k.public.key(),
            &prefixed,
            raw.corr_id,
            None
        ));
        assert!(!verify_authorization(
            auth.as_ref(),
            k.public.key(),
            &authorized,
            raw.corr_id,
            None
        ));
        // PING takes no service signature
        let (t, _) = enc.encode(None, b"", &SmpCommand::Ping).unwrap();
        assert_eq!(
            RawTransmission::decode(&t, &params)
                .unwrap()
                .service_signature,
            None
        );
        // NSUBS: the session key alone, entity = service id
        let (t, _) = enc.encode_service(&SmpCommand::Nsubs).unwrap();
        let raw = RawTransmission::decode(&t, &params).unwrap();
        assert_eq!(raw.entity_id, b"svc");
        assert!(check_service_command(
            Some((b"svc", &service_public)),
            raw.authorization().unwrap().as_ref(),
            raw.service_signature.is_some(),
            raw.entity_id,
            &raw.authorized()
        ));
        let plain = SmpEncoder {
            service: None,
            ..enc
        };
        assert!(matches!(
            plain.encode_service(&SmpCommand::Nsubs),
            Err(SmpClientError::NoService)
        ));
    }

    #[test]
    fn key_pairs() {
        let k = AuthKeyPair::ed25519().unwrap();
        assert_eq!(
            k.public.key().algorithm(),
            smp_proto::keys::KeyAlgorithm::Ed25519
        );
        let x = AuthKeyPair::x25519().unwrap();
        assert_eq!(
            x.public.key().algorithm(),
            smp_proto::keys::KeyAlgorithm::X25519
        );
        let a = DhKeyPair::generate().unwrap();
        let b = DhKeyPair::generate().unwrap();
        assert_eq!(
            rcv_ntf_dh_secret(&a.public, &b.private),
            rcv_ntf_dh_secret(&b.public, &a.private)
        );
    }
}
