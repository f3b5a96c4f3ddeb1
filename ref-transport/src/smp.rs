//! The SMP handshake over TLS, both sides (the reference's `smpServerHandshake` and
//! `smpClientHandshake`), with transport block encryption from v11.
//!
//! ```text
//! server -> client: smp-server-hello = version-range session-id [cert-chain signed-key]
//! client -> server: smp-client-hello = version key-hash [x25519-key] [proxy] [service]
//! ```
//!
//! Each hello is the unbatched content of one padded 16384-byte block. The server offers its
//! supported range when ALPN `smp/1` was negotiated and only v6 otherwise, and sends its TLS
//! chain with a fresh X25519 session key signed by the leaf key (Ed25519 or Ed448; the client
//! verifies both with [`OpenSslVerifier`]). Block encryption starts after
//! the handshake when both sides have a DH key, the version is 11 or more and the client is not
//! a proxy: chain keys from `sbcInit(session id, dh)`, the server sending with the first and
//! receiving with the second, the client the other way round.
//!
//! Services (v16+, [`SmpServiceCredentials`]): a client with a service certificate presents it
//! in TLS and sends it again in its hello with a fresh Ed25519 session key signed by the
//! certificate's key; the server checks both (`smpServerHandshake`'s `getClientService`) and
//! answers with a third block, `R service-id` or `E transport-error`:
//!
//! ```text
//! client -> server: smp-client-hello ... "1" role cert-chain signed-session-key
//! server -> client: "R" service-id / "E" error     ; HANDSHAKE BAD_AUTH / BAD_SERVICE
//! ```
//!
//! The server refuses (`HANDSHAKE BAD_AUTH`) a chain other than the TLS one, a chain that is
//! neither one self-signed certificate nor 2-4 certificates, a session key that is not Ed25519
//! or not signed by the leaf key; `HANDSHAKE BAD_SERVICE` when the service cannot be
//! registered (the caller's [`ServiceLookup`]). The service identity is the SHA-256 of the
//! identity certificate (the chain's second, or its only one).
//!
//! Decision: OpenSSL does not tell a client whether the server asked for its certificate (the
//! reference's `certificateSent`), so a client configured with service credentials sends the
//! service hello whenever the version is 16 or more; a relay that did not ask answers
//! `HANDSHAKE BAD_AUTH` (its TLS chain is empty), which the caller can treat as "no service
//! support". The reference relays ask by default (`accept_service_credentials = on`).

use smp_proto::block::{HandshakeError, TransportError, SMP_BLOCK_SIZE};
use smp_proto::crypto::{dh, ed25519_public, sbc_init, x25519_public, Certificate};
use smp_proto::handshake::{
    chain_id_ca_certs, smp_client_negotiate_with, smp_server_negotiate, smp_server_offer,
    CertChainPubKey, ChainCertificates, ClientService, ServiceRole, SmpClientAgreement,
    SmpClientHello, SmpServerAgreement, SmpServerHandshakeResponse, SmpServerHello,
};
use smp_proto::keys::{PublicKey, X25519PublicKey};
use smp_proto::server::KeyHash;
use smp_proto::transmission::TransmissionParams;
use smp_proto::version::smp;
use smp_proto::version::{Version, VersionRange};
use smp_proto::Encode;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio_openssl::SslStream;

use crate::block::{BlockReader, BlockWriter};
use crate::credentials::ServerCredentials;
use crate::ntf::{parse_error, read_hello, Halves};
use crate::signing::OpenSslVerifier;
use crate::tls::{TlsClientConfig, TlsInfo, TlsServerConfig, TlsStream};
use crate::{random_array, Error};

/// A service client's credentials (the reference's `ServiceCredentials`): its role and the
/// certificate it presents in TLS and in the hello. A notification server uses its own TLS
/// credentials (chain leaf, CA), so its service identity is its server identity (key hash).
#[derive(Clone, Debug)]
pub struct SmpServiceCredentials {
    role: ServiceRole,
    credentials: ServerCredentials,
    chain: Vec<Certificate>,
    cert_hash: [u8; 32],
}

impl SmpServiceCredentials {
    /// Credentials of `role` presenting the chain of `credentials`.
    ///
    /// # Errors
    /// [`Error::Credentials`] when a certificate does not parse.
    pub fn new(role: ServiceRole, credentials: &ServerCredentials) -> Result<Self, Error> {
        let chain = credentials.chain()?;
        let cert_hash = service_cert_hash(&chain)
            .ok_or_else(|| Error::Credentials("service chain must have 1-4 certificates".into()))?;
        Ok(Self {
            role,
            credentials: credentials.clone(),
            chain,
            cert_hash,
        })
    }

    /// The declared role.
    pub fn role(&self) -> ServiceRole {
        self.role
    }

    /// The service identity: SHA-256 of the identity certificate (`serviceCertHash`).
    pub fn cert_hash(&self) -> &[u8; 32] {
        &self.cert_hash
    }

    /// The TLS credentials presented as the client certificate.
    pub fn credentials(&self) -> &ServerCredentials {
        &self.credentials
    }

    /// A TLS client configuration offering `alpn` and presenting this certificate.
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn tls_client_config(&self, alpn: &[&[u8]]) -> Result<TlsClientConfig, Error> {
        TlsClientConfig::with_client_certificate(alpn, &self.credentials)
    }
}

/// The identity of a service chain: SHA-256 of its identity certificate (the only one of a
/// self-signed chain, the second of 2-4), `None` for other lengths.
pub fn service_cert_hash(chain: &[Certificate]) -> Option<[u8; 32]> {
    match chain_id_ca_certs(chain) {
        ChainCertificates::SelfSigned(c) => Some(c.fingerprint()),
        ChainCertificates::Valid { id, .. } => Some(id.fingerprint()),
        _ => None,
    }
}

/// The service of an SMP session (the reference's `THClientService`): on a client its own
/// session private key (Ed25519 seed), on a server the client's session public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionService {
    /// The id the relay gave the service (`R service-id`).
    pub service_id: Vec<u8>,
    /// The role.
    pub role: ServiceRole,
    /// The service identity (SHA-256 of its identity certificate).
    pub cert_hash: [u8; 32],
    /// The Ed25519 session key: the seed on the client, the public key on the server.
    pub key: [u8; 32],
}

/// How a server registers a service client (the reference's `getService`, `getCreateService`):
/// given the role, the chain and the identity, the service id (the existing one for a known
/// identity), or the error to answer (`HANDSHAKE BAD_SERVICE` in the reference).
pub type ServiceLookup<'a> = dyn FnMut(ServiceRole, &[Certificate], &[u8; 32]) -> Result<Vec<u8>, TransportError>
    + Send
    + 'a;

/// An SMP connection after the handshake.
#[derive(Debug)]
pub struct SmpSession<S> {
    /// Reads 16384-byte blocks (decrypting them when block encryption is on).
    pub reader: BlockReader<ReadHalf<SslStream<S>>>,
    /// Writes 16384-byte blocks (encrypting them when block encryption is on).
    pub writer: BlockWriter<WriteHalf<SslStream<S>>>,
    /// Session id, ALPN, peer chain.
    pub tls: TlsInfo,
    /// The agreed version.
    pub version: Version,
    /// The agreed range.
    pub range: VersionRange,
    /// Our session X25519 private key (server: verifies authenticators; client: computes them
    /// with the server's key).
    pub private_key: Option<[u8; 32]>,
    /// The peer's session X25519 public key (server: the client's, if sent; client: the
    /// server's verified key, if sent).
    pub peer_key: Option<[u8; 32]>,
    /// The session's service (v16+): on a server the client's, on a client its own.
    pub service: Option<SessionService>,
}

impl<S> SmpSession<S> {
    /// The session id (`tls-unique`).
    pub fn session_id(&self) -> &[u8] {
        &self.tls.session_id
    }

    /// The transmission parameters of the session.
    pub fn params(&self) -> TransmissionParams<'_> {
        TransmissionParams::smp(&self.tls.session_id, self.version)
    }

    /// Whether blocks are encrypted.
    pub fn block_encryption(&self) -> bool {
        self.writer.block_encryption()
    }
}

fn split<S: AsyncRead + AsyncWrite>(tls: TlsStream<S>) -> Halves<S> {
    let (r, w) = tokio::io::split(tls.stream);
    (
        BlockReader::new(r, SMP_BLOCK_SIZE),
        BlockWriter::new(w, SMP_BLOCK_SIZE),
        tls.info,
    )
}

/// The server side of the SMP handshake on an accepted TLS connection.
///
/// # Errors
/// `HANDSHAKE PARSE`, `HANDSHAKE IDENTITY`, `HANDSHAKE BAD_SERVICE`, `VERSION` as
/// [`Error::Transport`]; IO errors.
pub async fn smp_server_handshake<S: AsyncRead + AsyncWrite>(
    tls: TlsStream<S>,
    config: &TlsServerConfig,
    supported: VersionRange,
) -> Result<(SmpSession<S>, SmpServerAgreement), Error> {
    let mut refuse = |_: ServiceRole, _: &[Certificate], _: &[u8; 32]| {
        Err(TransportError::Handshake(HandshakeError::BadService))
    };
    smp_server_handshake_services(tls, config, supported, &mut refuse).await
}

/// The checks of a service client's hello (`getClientService` before `getService`): the
/// chain is the TLS one, it is one self-signed certificate or 2-4, and the session key is an
/// Ed25519 key signed by the leaf key. Returns the identity and the session public key.
///
/// # Errors
/// `HANDSHAKE BAD_AUTH`.
pub fn check_client_service(
    service: &ClientService,
    tls_chain: &[Certificate],
) -> Result<([u8; 32], [u8; 32]), TransportError> {
    let bad = TransportError::Handshake(HandshakeError::BadAuth);
    let chain = &service.cert_key.cert_chain;
    if chain.as_slice() != tls_chain {
        return Err(bad);
    }
    let (leaf, id) = match chain_id_ca_certs(chain) {
        ChainCertificates::SelfSigned(c) => (c, c),
        ChainCertificates::Valid { leaf, id, .. } => (leaf, id),
        _ => return Err(bad),
    };
    let leaf_key = leaf.public_key().ok_or(bad)?;
    match service
        .cert_key
        .signed_key
        .verify_with(&leaf_key, &OpenSslVerifier)
    {
        Ok(PublicKey::Ed25519(k)) => Ok((id.fingerprint(), k)),
        _ => Err(bad),
    }
}

/// [`smp_server_handshake`] accepting service clients: a client hello with a service is
/// checked ([`check_client_service`]), registered with `lookup`, and answered with
/// `R service-id`; a refusal is answered `E error` and returned.
///
/// # Errors
/// As [`smp_server_handshake`], and `HANDSHAKE BAD_AUTH` or the lookup's error.
pub async fn smp_server_handshake_services<S: AsyncRead + AsyncWrite>(
    tls: TlsStream<S>,
    config: &TlsServerConfig,
    supported: VersionRange,
    lookup: &mut ServiceLookup<'_>,
) -> Result<(SmpSession<S>, SmpServerAgreement), Error> {
    let (mut reader, mut writer, info) = split(tls);
    let private = random_array::<32>()?;
    let public = PublicKey::X25519(x25519_public(&private));
    let hello = SmpServerHello {
        version_range: smp_server_offer(info.alpn.is_some(), supported),
        session_id: info.session_id.clone(),
        auth: Some(CertChainPubKey {
            cert_chain: config.cert_chain().to_vec(),
            signed_key: config.sign_key(&public)?,
        }),
    };
    writer.write_block(&hello.to_bytes()).await?;
    let bytes = read_hello(&mut reader).await?;
    let client = SmpClientHello::parse(&bytes).map_err(|_| parse_error())?;
    let agreement =
        smp_server_negotiate(hello.version_range, config.key_hash().as_bytes(), &client)?;
    let mut service = None;
    if let Some(cs) = &client.client_service {
        let registered = check_client_service(cs, &info.peer_chain).and_then(|(fp, key)| {
            let id = lookup(cs.role, &cs.cert_key.cert_chain, &fp)?;
            Ok(SessionService {
                service_id: id,
                role: cs.role,
                cert_hash: fp,
                key,
            })
        });
        match registered {
            Ok(sv) => {
                let r = SmpServerHandshakeResponse::ServiceId(sv.service_id.clone());
                writer.write_block(&r.to_bytes()).await?;
                service = Some(sv);
            }
            Err(e) => {
                writer
                    .write_block(&SmpServerHandshakeResponse::Error(e).to_bytes())
                    .await?;
                return Err(e.into());
            }
        }
    }
    if agreement.block_encryption {
        if let Some(k) = agreement.client_key {
            let (snd, rcv) = sbc_init(&info.session_id, &dh(&k, &private));
            writer.set_block_encryption(snd);
            reader.set_block_encryption(rcv);
        }
    }
    Ok((
        SmpSession {
            reader,
            writer,
            tls: info,
            version: agreement.version,
            range: agreement.range,
            private_key: Some(private),
            peer_key: agreement.client_key,
            service,
        },
        agreement,
    ))
}

/// The client side of the SMP handshake on a TLS connection to the server `key_hash`. The
/// client sends a fresh X25519 session key (v7+); `proxy_server` marks an SMP proxy (v14+),
/// which disables block encryption.
///
/// # Errors
/// `HANDSHAKE PARSE`, `SESSION`, `VERSION`, `HANDSHAKE BAD_AUTH` as [`Error::Transport`]; IO
/// errors.
pub async fn smp_client_handshake<S: AsyncRead + AsyncWrite>(
    tls: TlsStream<S>,
    key_hash: &KeyHash,
    versions: VersionRange,
    proxy_server: bool,
) -> Result<(SmpSession<S>, SmpClientAgreement), Error> {
    smp_client_handshake_service(tls, key_hash, versions, proxy_server, None).await
}

/// [`smp_client_handshake`] as a service client: with `service` and an agreed version of 16
/// or more, the hello carries the service certificate and a fresh Ed25519 session key signed
/// with it, and the relay's answer is awaited; the session's [`SmpSession::service`] then
/// holds the service id and the session key. `tls` must have been made with
/// [`SmpServiceCredentials::tls_client_config`]. Below v16 no service is sent (`service` is
/// `None` in the session).
///
/// # Errors
/// As [`smp_client_handshake`], and the relay's refusal (`HANDSHAKE BAD_AUTH`,
/// `HANDSHAKE BAD_SERVICE`, ...) as [`Error::Transport`].
pub async fn smp_client_handshake_service<S: AsyncRead + AsyncWrite>(
    tls: TlsStream<S>,
    key_hash: &KeyHash,
    versions: VersionRange,
    proxy_server: bool,
    service: Option<&SmpServiceCredentials>,
) -> Result<(SmpSession<S>, SmpClientAgreement), Error> {
    let (mut reader, mut writer, info) = split(tls);
    let bytes = read_hello(&mut reader).await?;
    let hello = SmpServerHello::parse(&bytes).map_err(|_| parse_error())?;
    let private = random_array::<32>()?;
    let agreement = smp_client_negotiate_with(
        versions,
        &info.session_id,
        key_hash.as_bytes(),
        info.peer_key().as_ref(),
        proxy_server,
        true,
        &hello,
        &OpenSslVerifier,
    )?;
    let service = service.filter(|_| agreement.version >= smp::SERVICE_CERTS);
    let mut session_service = None;
    let client_service = match service {
        None => None,
        Some(sc) => {
            let seed = random_array::<32>()?;
            let public = PublicKey::Ed25519(ed25519_public(&seed));
            let signed_key = sc.credentials.sign_key(&public)?;
            session_service = Some((sc, seed));
            Some(ClientService {
                role: sc.role,
                cert_key: CertChainPubKey {
                    cert_chain: sc.chain.clone(),
                    signed_key,
                },
            })
        }
    };
    let reply = SmpClientHello {
        version: agreement.version,
        key_hash: key_hash.as_bytes().to_vec(),
        auth_key: Some(X25519PublicKey(x25519_public(&private))),
        proxy_server,
        client_service,
    };
    writer.write_block(&reply.to_bytes()).await?;
    let service = match session_service {
        None => None,
        Some((sc, seed)) => {
            let bytes = read_hello(&mut reader).await?;
            match SmpServerHandshakeResponse::parse(&bytes).map_err(|_| parse_error())? {
                SmpServerHandshakeResponse::ServiceId(service_id) => Some(SessionService {
                    service_id,
                    role: sc.role,
                    cert_hash: sc.cert_hash,
                    key: seed,
                }),
                SmpServerHandshakeResponse::Error(e) => return Err(e.into()),
            }
        }
    };
    if agreement.block_encryption {
        if let Some(k) = agreement.server_key {
            let (srv_snd, srv_rcv) = sbc_init(&info.session_id, &dh(&k, &private));
            writer.set_block_encryption(srv_rcv);
            reader.set_block_encryption(srv_snd);
        }
    }
    Ok((
        SmpSession {
            reader,
            writer,
            tls: info,
            version: agreement.version,
            range: agreement.range,
            private_key: Some(private),
            peer_key: agreement.server_key,
            service,
        },
        agreement,
    ))
}
