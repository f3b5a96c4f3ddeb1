//! An async client of the notification server: connects over TLS, runs the NTF handshake, and
//! sends typed commands with their authorization, matching responses by correlation id (the
//! reference's `Notifications.Client` over `ProtocolClient`).
//!
//! ```text
//! transmission = authorization authorized
//! authorization = signature(Ed25519 key, for-auth)
//!               / crypto_box authenticator(X25519 key, server session key, nonce = corr id)
//!               / empty                                   ; PING
//! for-auth      = short-bytes(session id) corr-id entity-id command
//! corr-id       = 24 random bytes
//! ```
//!
//! A response is delivered to its command when its correlation id and entity id match (an
//! entity id that does not match is [`ClientError::UnexpectedResponse`], as in the reference);
//! `ERR` becomes [`ClientError::Server`].

use std::net::SocketAddr;
use std::time::Duration;

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntityId};
use ntf_proto::credentials::check_response;
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus};
use ntf_proto::version::{self, Version, VersionRange};
use ref_transport::{ntf_client_handshake, Error as TransportIoError, TlsInfo};
use smp_proto::block::TransportError;
use smp_proto::error::DecodeError;
use smp_proto::error_type::ErrorType;
use smp_proto::keys::{AuthPrivateKey, X25519PublicKey};
use smp_proto::server::{KeyHash, NtfServer};

use crate::transport::{self, Connection, Encoder, Framing, Protocol, Received};

/// A failure of a client request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection or the handshake failed.
    #[error("transport: {0}")]
    Transport(#[from] TransportIoError),
    /// The server answered `ERR`.
    #[error("server error: {0}")]
    Server(ErrorType),
    /// A response that is not the answer to the command (wrong type or entity id).
    #[error("unexpected response {0:?}")]
    UnexpectedResponse(NtfResponse),
    /// The response did not decode, or broke the credential rules of responses.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// No response within the configured time.
    #[error("response timeout")]
    Timeout,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// The command could not be sent (`LARGE_MSG`, or `NO_AUTH` for an X25519 key without the
    /// server's session key before v2).
    #[error("not sent: {0:?}")]
    NotSent(TransportError),
    /// A key the client cannot authorize with (Ed448, X448).
    #[error("unsupported authorization key")]
    UnsupportedKey,
    /// The server address cannot be connected to (onion host, bad port, no address).
    #[error("address: {0}")]
    Address(String),
}

crate::transport::from_core_error!(ClientError);

/// How to connect.
#[derive(Clone, Debug)]
pub struct NtfClientConfig {
    /// The NTF versions the client speaks (default 1-3).
    pub versions: VersionRange,
    /// Offer ALPN `ntf/1` (without it the reference server offers only v1).
    pub alpn: bool,
    /// Port used when the address has none (the reference's default is 443).
    pub default_port: u16,
    /// How long to wait for a response (and for the TCP, TLS and NTF handshakes).
    pub timeout: Duration,
}

impl Default for NtfClientConfig {
    fn default() -> Self {
        Self {
            versions: version::SUPPORTED,
            alpn: true,
            default_port: 443,
            timeout: Duration::from_secs(15),
        }
    }
}

impl NtfClientConfig {
    /// The default configuration with the versions `min..=max`; `None` when `min > max`.
    pub fn with_versions(min: u16, max: u16) -> Option<Self> {
        Some(Self {
            versions: VersionRange::new(Version(min), Version(max))?,
            ..Self::default()
        })
    }
}

/// A response as received: its entity id and the decoded response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The entity id of the response transmission.
    pub entity_id: Vec<u8>,
    /// The response, or why it did not decode.
    pub response: Result<NtfResponse, String>,
}

/// A connected notification server client. Requests may be sent concurrently from several
/// tasks; a background task reads the responses.
#[derive(Debug)]
pub struct NtfClient {
    conn: Connection<NtfResponse>,
    encoder: Encoder,
    tls: TlsInfo,
    version: Version,
    range: VersionRange,
    server_key: Option<[u8; 32]>,
}

impl NtfClient {
    /// Connects to `server` (`ntf://<key hash>@host[,host...][:port]`): TCP to the first host
    /// that accepts (onion hosts are skipped), TLS with the key hash check, the NTF handshake.
    ///
    /// # Errors
    /// [`ClientError::Address`] when no host can be reached, [`ClientError::Transport`] when
    /// TLS or the handshake fails, [`ClientError::Timeout`].
    pub async fn connect(
        server: &NtfServer,
        config: &NtfClientConfig,
    ) -> Result<Self, ClientError> {
        crate::addr::connect_first(server, config.default_port, ClientError::Address, |addr| {
            Self::connect_addr(addr, server.key_hash(), config)
        })
        .await
    }

    /// Connects to a socket address and expects the server identity `key_hash`.
    ///
    /// # Errors
    /// As [`NtfClient::connect`].
    pub async fn connect_addr(
        addr: SocketAddr,
        key_hash: &KeyHash,
        config: &NtfClientConfig,
    ) -> Result<Self, ClientError> {
        let alpn = config.alpn.then_some(version::ALPN);
        let session = transport::open(addr, key_hash, alpn, config.timeout, |tls| {
            ntf_client_handshake(tls, key_hash, config.versions)
        })
        .await?;
        let version = session.agreement.version;
        let server_key = session.agreement.server_key;
        let framing = Framing {
            session_id: session.tls.session_id.clone(),
            version,
            protocol: Protocol::Ntf,
            decode: decode_response,
            read_batch: session.agreement.batch(),
            write_batch: version >= version::AUTH_BATCH_CMDS,
            timeout: config.timeout,
            // the NTF server sends no events
            events: None,
        };
        Ok(Self {
            conn: Connection::start(session.reader, session.writer, framing),
            encoder: Encoder::new(&session.tls.session_id, version, Protocol::Ntf, server_key),
            tls: session.tls,
            version,
            range: session.agreement.range,
            server_key,
        })
    }

    /// The negotiated NTF version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The agreed version range.
    pub fn range(&self) -> VersionRange {
        self.range
    }

    /// The session id (`tls-unique`).
    pub fn session_id(&self) -> &[u8] {
        &self.tls.session_id
    }

    /// The TLS session details (ALPN, the server's chain).
    pub fn tls(&self) -> &TlsInfo {
        &self.tls
    }

    /// The server's verified session DH key (v2+), used for X25519 authenticators.
    pub fn server_key(&self) -> Option<[u8; 32]> {
        self.server_key
    }

    /// Encodes one transmission with a fresh correlation id (`mkTransmission`): the bytes to
    /// send and the correlation id.
    ///
    /// # Errors
    /// [`ClientError::NotSent`] `NO_AUTH` for an X25519 key without the server key,
    /// [`ClientError::UnsupportedKey`].
    pub fn encode_transmission(
        &self,
        key: Option<&AuthPrivateKey>,
        entity_id: &[u8],
        command: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        Ok(self.encoder.encode(key.map(|k| (k, None)), entity_id, command)?)
    }

    /// Sends already encoded transmissions (in batches from v2) and waits for the response to
    /// each correlation id. Items that could not be sent get [`ClientError::NotSent`].
    ///
    /// # Errors
    /// [`ClientError::Closed`] or [`ClientError::Transport`] when nothing could be sent.
    pub async fn send_raw(
        &self,
        transmissions: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<Result<Reply, ClientError>>, ClientError> {
        Ok(self
            .conn
            .send(transmissions)
            .await?
            .into_iter()
            .map(|r| {
                r.map(|Received { entity_id, msg }| Reply {
                    entity_id,
                    response: msg,
                })
                .map_err(ClientError::from)
            })
            .collect())
    }

    /// Sends commands in one go (batched from v2) and returns each response, `ERR` as
    /// [`ClientError::Server`] (`sendProtocolCommands`).
    ///
    /// # Errors
    /// [`ClientError::Closed`] or [`ClientError::Transport`] when nothing could be sent.
    pub async fn send_commands(
        &self,
        commands: &[(Option<&AuthPrivateKey>, &[u8], &NtfCommand)],
    ) -> Result<Vec<Result<NtfResponse, ClientError>>, ClientError> {
        let mut encoded = Vec::with_capacity(commands.len());
        let mut results: Vec<Option<Result<NtfResponse, ClientError>>> = Vec::new();
        for (key, entity, cmd) in commands {
            match self.encode_transmission(*key, entity, &cmd.to_bytes(self.version)) {
                Ok(t) => {
                    encoded.push(t);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let mut replies = self.send_raw(encoded).await?.into_iter();
        Ok(results
            .into_iter()
            .zip(commands)
            .map(|(r, (_, entity, _))| match r {
                Some(e) => e,
                None => match replies.next() {
                    Some(Ok(reply)) => interpret(entity, reply),
                    Some(Err(e)) => Err(e),
                    None => Err(ClientError::Closed),
                },
            })
            .collect())
    }

    /// Sends one command and returns the response; `ERR` is [`ClientError::Server`]
    /// (`sendProtocolCommand`).
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn send_command(
        &self,
        key: Option<&AuthPrivateKey>,
        entity_id: &[u8],
        command: &NtfCommand,
    ) -> Result<NtfResponse, ClientError> {
        self.send_commands(&[(key, entity_id, command)])
            .await?
            .pop()
            .unwrap_or(Err(ClientError::Closed))
    }

    async fn ok_command(
        &self,
        key: &AuthPrivateKey,
        entity_id: &NtfEntityId,
        command: &NtfCommand,
    ) -> Result<(), ClientError> {
        match self
            .send_command(Some(key), entity_id.as_bytes(), command)
            .await?
        {
            NtfResponse::Ok => Ok(()),
            r => Err(ClientError::UnexpectedResponse(r)),
        }
    }

    /// `TNEW`: registers a device token; returns the token id and the server's DH key.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn tnew(
        &self,
        key: &AuthPrivateKey,
        token: NewNtfToken,
    ) -> Result<(NtfEntityId, X25519PublicKey), ClientError> {
        match self
            .send_command(Some(key), &[], &NtfCommand::Tnew(token))
            .await?
        {
            NtfResponse::IdTkn { id, dh_key } => Ok((id, dh_key)),
            r => Err(ClientError::UnexpectedResponse(r)),
        }
    }

    /// `TVFY`: verifies the token with the code pushed to the device.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn tvfy(
        &self,
        key: &AuthPrivateKey,
        token_id: &NtfEntityId,
        code: NtfRegCode,
    ) -> Result<(), ClientError> {
        self.ok_command(key, token_id, &NtfCommand::Tvfy(code))
            .await
    }

    /// `TCHK`: the token status.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn tchk(
        &self,
        key: &AuthPrivateKey,
        token_id: &NtfEntityId,
    ) -> Result<NtfTknStatus, ClientError> {
        match self
            .send_command(Some(key), token_id.as_bytes(), &NtfCommand::Tchk)
            .await?
        {
            NtfResponse::Tkn(s) => Ok(s),
            r => Err(ClientError::UnexpectedResponse(r)),
        }
    }

    /// `TCHK` for several tokens in one batch: each token's status or error, in order.
    ///
    /// # Errors
    /// As [`NtfClient::send_commands`] when the batch cannot be sent.
    pub async fn tchk_many(
        &self,
        tokens: &[(&AuthPrivateKey, &NtfEntityId)],
    ) -> Result<Vec<Result<NtfTknStatus, ClientError>>, ClientError> {
        let cmds: Vec<(Option<&AuthPrivateKey>, &[u8], &NtfCommand)> = tokens
            .iter()
            .map(|(k, id)| (Some(*k), id.as_bytes(), &NtfCommand::Tchk))
            .collect();
        Ok(self
            .send_commands(&cmds)
            .await?
            .into_iter()
            .map(|r| match r? {
                NtfResponse::Tkn(s) => Ok(s),
                r => Err(ClientError::UnexpectedResponse(r)),
            })
            .collect())
    }

    /// `TRPL`: replaces the device token.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn trpl(
        &self,
        key: &AuthPrivateKey,
        token_id: &NtfEntityId,
        token: DeviceToken,
    ) -> Result<(), ClientError> {
        self.ok_command(key, token_id, &NtfCommand::Trpl(token))
            .await
    }

    /// `TDEL`: deletes the token and its subscriptions.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn tdel(
        &self,
        key: &AuthPrivateKey,
        token_id: &NtfEntityId,
    ) -> Result<(), ClientError> {
        self.ok_command(key, token_id, &NtfCommand::Tdel).await
    }

    /// `TCRN`: periodic notifications every `minutes` (0 disables).
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn tcrn(
        &self,
        key: &AuthPrivateKey,
        token_id: &NtfEntityId,
        minutes: u16,
    ) -> Result<(), ClientError> {
        self.ok_command(key, token_id, &NtfCommand::Tcrn(minutes))
            .await
    }

    /// `SNEW`: creates a subscription; returns its id. `key` is the token's key.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn snew(
        &self,
        key: &AuthPrivateKey,
        subscription: NewNtfSubscription,
    ) -> Result<NtfEntityId, ClientError> {
        match self
            .send_command(Some(key), &[], &NtfCommand::Snew(subscription))
            .await?
        {
            NtfResponse::IdSub(id) => Ok(id),
            r => Err(ClientError::UnexpectedResponse(r)),
        }
    }

    /// `SCHK`: the subscription status.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn schk(
        &self,
        key: &AuthPrivateKey,
        subscription_id: &NtfEntityId,
    ) -> Result<NtfSubStatus, ClientError> {
        match self
            .send_command(Some(key), subscription_id.as_bytes(), &NtfCommand::Schk)
            .await?
        {
            NtfResponse::Sub(s) => Ok(s),
            r => Err(ClientError::UnexpectedResponse(r)),
        }
    }

    /// `SCHK` for several subscriptions in one batch (each with its token's key): each status
    /// or error, in order.
    ///
    /// # Errors
    /// As [`NtfClient::send_commands`] when the batch cannot be sent.
    pub async fn schk_many(
        &self,
        subscriptions: &[(&AuthPrivateKey, &NtfEntityId)],
    ) -> Result<Vec<Result<NtfSubStatus, ClientError>>, ClientError> {
        let cmds: Vec<(Option<&AuthPrivateKey>, &[u8], &NtfCommand)> = subscriptions
            .iter()
            .map(|(k, id)| (Some(*k), id.as_bytes(), &NtfCommand::Schk))
            .collect();
        Ok(self
            .send_commands(&cmds)
            .await?
            .into_iter()
            .map(|r| match r? {
                NtfResponse::Sub(s) => Ok(s),
                r => Err(ClientError::UnexpectedResponse(r)),
            })
            .collect())
    }

    /// `SDEL`: deletes the subscription.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn sdel(
        &self,
        key: &AuthPrivateKey,
        subscription_id: &NtfEntityId,
    ) -> Result<(), ClientError> {
        self.ok_command(key, subscription_id, &NtfCommand::Sdel)
            .await
    }

    /// `PING` (no authorization, no entity): expects `PONG`.
    ///
    /// # Errors
    /// As [`ClientError`].
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.send_command(None, &[], &NtfCommand::Ping).await? {
            NtfResponse::Pong => Ok(()),
            r => Err(ClientError::UnexpectedResponse(r)),
        }
    }
}

/// Decodes a server message of the NTF protocol at `v`.
fn decode_response(command: &[u8], v: Version) -> Result<NtfResponse, String> {
    NtfResponse::decode(command, v).map_err(|e: DecodeError| e.to_string())
}

/// A reply as the result of a command sent with `entity_id` (`processMsg`).
fn interpret(entity_id: &[u8], reply: Reply) -> Result<NtfResponse, ClientError> {
    let r = reply.response.map_err(ClientError::BadResponse)?;
    if reply.entity_id != entity_id {
        return Err(ClientError::UnexpectedResponse(r));
    }
    if let NtfResponse::Err(e) = r {
        return Err(ClientError::Server(e));
    }
    check_response(&r, &reply.entity_id).map_err(|e| ClientError::BadResponse(e.to_string()))?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntf_proto::token::PushProvider;
    use smp_proto::keys::PrivateKey;
    use smp_proto::transmission::{ForAuth, RawTransmission, TransmissionParams};
    use tokio::task::JoinHandle;
    use ref_transport::{ntf_server_handshake, ServerCredentials, TlsServerConfig};
    use smp_proto::crypto::{ed25519_public, verify_authorization, x25519_public};
    use smp_proto::keys::{AuthPublicKey, PublicKey};
    use tokio::net::TcpListener;

    /// A stand-in server: verifies every authorization with `client_key`, answers PING with
    /// PONG, TNEW with IDTKN, TCHK with TKN ACTIVE, others with OK, and ERR AUTH when the
    /// authorization does not verify. Serves one connection.
    async fn mini_server(client_key: PublicKey) -> (SocketAddr, KeyHash, JoinHandle<usize>) {
        let (_, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
        let kh = creds.key_hash();
        let cfg = TlsServerConfig::new(&creds, &[version::ALPN]).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let tls = cfg.accept(tcp).await.unwrap();
            let mut s = ntf_server_handshake(tls, &cfg, version::SUPPORTED)
                .await
                .unwrap();
            let v = s.agreement.version;
            let sid = s.session_id().to_vec();
            let mut served = 0;
            while let Ok(ts) = s.reader.read_transmissions(s.agreement.batch()).await {
                let mut out = Vec::new();
                for t in ts.into_iter().flatten() {
                    let params = TransmissionParams::ntf(&sid, v);
                    let raw = RawTransmission::decode(&t, &params).unwrap();
                    let auth = raw.check(&params).unwrap();
                    let cmd = NtfCommand::decode(raw.command, v).unwrap();
                    let ok = matches!(cmd, NtfCommand::Ping)
                        || verify_authorization(
                            auth.as_ref(),
                            &client_key,
                            &raw.authorized(),
                            raw.corr_id,
                            s.server_private_key.as_ref(),
                        );
                    let (entity, resp) = match (ok, cmd) {
                        (false, _) => (raw.entity_id.to_vec(), NtfResponse::Err(ErrorType::Auth)),
                        (_, NtfCommand::Ping) => (vec![], NtfResponse::Pong),
                        (_, NtfCommand::Tnew(_)) => (
                            vec![],
                            NtfResponse::IdTkn {
                                id: NtfEntityId::new(b"tkn1".to_vec()).unwrap(),
                                dh_key: X25519PublicKey([5; 32]),
                            },
                        ),
                        (_, NtfCommand::Tchk) => (
                            raw.entity_id.to_vec(),
                            NtfResponse::Tkn(NtfTknStatus::Active),
                        ),
                        _ => (raw.entity_id.to_vec(), NtfResponse::Ok),
                    };
                    served += 1;
                    let fa = ForAuth::new(&params, raw.corr_id, &entity, &resp.to_bytes(v));
                    let mut bytes = Vec::new();
                    fa.encode(false, None, None, &mut bytes);
                    out.push(bytes);
                }
                s.writer
                    .write_transmissions(&out, s.agreement.batch())
                    .await
                    .unwrap();
            }
            served
        });
        (addr, kh, task)
    }

    fn token(verify: PublicKey) -> NewNtfToken {
        NewNtfToken {
            token: DeviceToken::new(PushProvider::ApnsTest, b"0123abcd".to_vec()).unwrap(),
            verify_key: AuthPublicKey::new(verify).unwrap(),
            dh_key: X25519PublicKey(x25519_public(&[3; 32])),
        }
    }

    #[tokio::test]
    async fn commands_at_each_version_and_key_type() {
        let ed = AuthPrivateKey::new(PrivateKey::Ed25519([1; 32])).unwrap();
        let ed_pub = PublicKey::Ed25519(ed25519_public(&[1; 32]));
        let x = AuthPrivateKey::new(PrivateKey::X25519([2; 32])).unwrap();
        let x_pub = PublicKey::X25519(x25519_public(&[2; 32]));
        // (versions, ALPN); without ALPN the server offers only v1 and sends no session key
        for (v, alpn) in [(1u16, true), (2, true), (3, true), (1, false)] {
            for (key, public) in [(&ed, ed_pub), (&x, x_pub)] {
                let (addr, kh, server) = mini_server(public).await;
                let mut cfg = NtfClientConfig::with_versions(1, v).unwrap();
                cfg.alpn = alpn;
                let c = NtfClient::connect_addr(addr, &kh, &cfg).await.unwrap();
                assert_eq!(c.version(), Version(v));
                // the key is sent whenever the offered range reaches v2, even if v1 is agreed
                assert_eq!(c.server_key().is_some(), alpn);
                c.ping().await.unwrap();
                let tnew = c.tnew(key, token(public)).await;
                if !alpn && public.algorithm() == smp_proto::keys::KeyAlgorithm::X25519 {
                    // no server session key: an authenticator cannot be made
                    assert!(matches!(
                        tnew,
                        Err(ClientError::NotSent(TransportError::NoAuth))
                    ));
                    continue;
                }
                let (id, _) = tnew.unwrap();
                assert_eq!(id.as_bytes(), b"tkn1");
                assert_eq!(c.tchk(key, &id).await.unwrap(), NtfTknStatus::Active);
                c.tvfy(key, &id, NtfRegCode::new(b"code".to_vec()).unwrap())
                    .await
                    .unwrap();
                c.tcrn(key, &id, 20).await.unwrap();
                c.tdel(key, &id).await.unwrap();
                // a key the server does not know: ERR AUTH
                let other = AuthPrivateKey::new(PrivateKey::Ed25519([9; 32])).unwrap();
                assert!(matches!(
                    c.tchk(&other, &id).await,
                    Err(ClientError::Server(ErrorType::Auth))
                ));
                // several commands at once (one batch from v2)
                let cmds = [
                    (None, &[][..], &NtfCommand::Ping),
                    (Some(key), id.as_bytes(), &NtfCommand::Schk),
                    (Some(key), id.as_bytes(), &NtfCommand::Sdel),
                ];
                let rs = c.send_commands(&cmds).await.unwrap();
                assert_eq!(rs[0].as_ref().unwrap(), &NtfResponse::Pong);
                // SCHK answered OK by the stand-in: not a SUB
                assert!(rs[1].is_ok());
                assert_eq!(rs[2].as_ref().unwrap(), &NtfResponse::Ok);
                drop(c);
                // ping, tnew, tchk, tvfy, tcrn, tdel, tchk (wrong key), 3 in the batch
                assert_eq!(server.await.unwrap(), 10);
            }
        }
    }

    #[tokio::test]
    async fn connect_by_address_and_wrong_identity() {
        let ed_pub = PublicKey::Ed25519(ed25519_public(&[1; 32]));
        let (addr, kh, _server) = mini_server(ed_pub).await;
        let text = format!("ntf://{kh}@127.0.0.1:{}", addr.port());
        let server = NtfServer::parse_text(text.as_bytes()).unwrap();
        let c = NtfClient::connect(&server, &NtfClientConfig::default())
            .await
            .unwrap();
        assert_eq!(c.version(), version::CURRENT);
        c.ping().await.unwrap();

        let (addr, _, _server) = mini_server(ed_pub).await;
        let wrong = KeyHash::from([1; 32]);
        let e = NtfClient::connect_addr(addr, &wrong, &NtfClientConfig::default())
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            ClientError::Transport(TransportIoError::Certificate(_))
        ));
    }

    #[test]
    fn interpret_replies() {
        let ok = |e: &[u8], r| Reply {
            entity_id: e.to_vec(),
            response: Ok(r),
        };
        assert_eq!(
            interpret(b"t", ok(b"t", NtfResponse::Ok)).unwrap(),
            NtfResponse::Ok
        );
        assert!(matches!(
            interpret(b"t", ok(b"u", NtfResponse::Ok)),
            Err(ClientError::UnexpectedResponse(NtfResponse::Ok))
        ));
        assert!(matches!(
            interpret(b"t", ok(b"t", NtfResponse::Err(ErrorType::Auth))),
            Err(ClientError::Server(ErrorType::Auth))
        ));
        // OK without an entity id breaks the response credential rules
        assert!(matches!(
            interpret(b"", ok(b"", NtfResponse::Ok)),
            Err(ClientError::BadResponse(_))
        ));
        assert!(matches!(
            interpret(
                b"",
                Reply {
                    entity_id: vec![],
                    response: Err("x".into())
                }
            ),
            Err(ClientError::BadResponse(_))
        ));
    }
}
