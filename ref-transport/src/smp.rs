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
//! Service certificates in the client hello (v16) are not supported: the server answers
//! `E HANDSHAKE BAD_SERVICE` and the client never sends one.

use smp_proto::block::{HandshakeError, TransportError, SMP_BLOCK_SIZE};
use smp_proto::crypto::{dh, sbc_init, x25519_public};
use smp_proto::handshake::{
    smp_client_negotiate_with, smp_server_negotiate, smp_server_offer, CertChainPubKey,
    SmpClientAgreement, SmpClientHello, SmpServerAgreement, SmpServerHandshakeResponse,
    SmpServerHello,
};
use smp_proto::keys::{PublicKey, X25519PublicKey};
use smp_proto::server::KeyHash;
use smp_proto::transmission::TransmissionParams;
use smp_proto::version::{Version, VersionRange};
use smp_proto::Encode;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio_openssl::SslStream;

use crate::block::{BlockReader, BlockWriter};
use crate::ntf::{parse_error, read_hello, Halves};
use crate::signing::OpenSslVerifier;
use crate::tls::{TlsInfo, TlsServerConfig, TlsStream};
use crate::{random_array, Error};

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
    if client.client_service.is_some() {
        let e = TransportError::Handshake(HandshakeError::BadService);
        writer
            .write_block(&SmpServerHandshakeResponse::Error(e).to_bytes())
            .await?;
        return Err(e.into());
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
    let reply = SmpClientHello {
        version: agreement.version,
        key_hash: key_hash.as_bytes().to_vec(),
        auth_key: Some(X25519PublicKey(x25519_public(&private))),
        proxy_server,
        client_service: None,
    };
    writer.write_block(&reply.to_bytes()).await?;
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
        },
        agreement,
    ))
}
