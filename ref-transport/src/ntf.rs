//! The NTF handshake over TLS, both sides (the reference's `ntfServerHandshake` and
//! `ntfClientHandshake`).
//!
//! ```text
//! server -> client: ntf-server-hello = version-range session-id [signed session X25519 key]
//! client -> server: ntf-client-hello = version key-hash
//! ```
//!
//! Each hello is the unbatched content of one padded 512-byte block. The server offers its
//! supported range when ALPN `ntf/1` was negotiated and only v1 otherwise; it signs a fresh
//! X25519 session key with its TLS (leaf) key, Ed25519 or Ed448. The client checks the session id (`SESSION`),
//! the key's signature against the TLS leaf certificate, Ed25519 or Ed448 ([`OpenSslVerifier`];
//! `HANDSHAKE BAD_AUTH`) and the versions
//! (`VERSION`); the server checks the key hash (`HANDSHAKE IDENTITY`) and the version.

use ntf_proto::handshake::{
    client_negotiate_with, server_negotiate, server_offer, NtfAgreement, NtfClientHello,
    NtfServerHello,
};
use ntf_proto::version::{self, VersionRange};
use smp_proto::block::{HandshakeError, TransportError};
use smp_proto::crypto::x25519_public;
use smp_proto::keys::PublicKey;
use smp_proto::server::KeyHash;
use smp_proto::transmission::TransmissionParams;
use smp_proto::Encode;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio_openssl::SslStream;

use crate::block::{BlockReader, BlockWriter};
use crate::signing::OpenSslVerifier;
use crate::tls::{TlsInfo, TlsServerConfig, TlsStream};
use crate::{random_array, Error};

/// An NTF connection after the handshake: the block reader and writer and what was agreed.
#[derive(Debug)]
pub struct NtfSession<S> {
    /// Reads 512-byte blocks.
    pub reader: BlockReader<ReadHalf<SslStream<S>>>,
    /// Writes 512-byte blocks.
    pub writer: BlockWriter<WriteHalf<SslStream<S>>>,
    /// Session id, ALPN, peer chain.
    pub tls: TlsInfo,
    /// The agreed version and range; on the client, the server's verified session key.
    pub agreement: NtfAgreement,
    /// On the server: the session X25519 private key, which verifies X25519 authenticators.
    pub server_private_key: Option<[u8; 32]>,
}

impl<S> NtfSession<S> {
    /// The session id (`tls-unique`).
    pub fn session_id(&self) -> &[u8] {
        &self.tls.session_id
    }

    /// Whether blocks carry batches (v2+).
    pub fn batch(&self) -> bool {
        self.agreement.batch()
    }

    /// The transmission parameters of the session.
    pub fn params(&self) -> TransmissionParams<'_> {
        self.agreement.params(&self.tls.session_id)
    }
}

/// The block reader and writer over the halves of a TLS stream, and the TLS details.
pub(crate) type Halves<S> = (
    BlockReader<ReadHalf<SslStream<S>>>,
    BlockWriter<WriteHalf<SslStream<S>>>,
    TlsInfo,
);

fn split<S: AsyncRead + AsyncWrite>(tls: TlsStream<S>) -> Halves<S> {
    let (r, w) = tokio::io::split(tls.stream);
    (
        BlockReader::new(r, version::BLOCK_SIZE),
        BlockWriter::new(w, version::BLOCK_SIZE),
        tls.info,
    )
}

/// Reads a handshake block (`getHandshake`): any failure to read a whole, well padded block
/// with a parsable hello is `HANDSHAKE PARSE`, except end of stream and IO errors.
pub(crate) async fn read_hello<R: AsyncRead + Unpin>(
    reader: &mut BlockReader<R>,
) -> Result<Vec<u8>, Error> {
    reader
        .read_block()
        .await?
        .map_err(|_| Error::Transport(TransportError::Handshake(HandshakeError::Parse)))
}

pub(crate) fn parse_error() -> Error {
    Error::Transport(TransportError::Handshake(HandshakeError::Parse))
}

/// The server side of the NTF handshake on an accepted TLS connection.
///
/// `supported` is offered when ALPN was negotiated, [`version::LEGACY_SERVER`] otherwise.
///
/// # Errors
/// `HANDSHAKE PARSE`, `HANDSHAKE IDENTITY`, `VERSION` as [`Error::Transport`]; IO errors.
pub async fn ntf_server_handshake<S: AsyncRead + AsyncWrite>(
    tls: TlsStream<S>,
    config: &TlsServerConfig,
    supported: VersionRange,
) -> Result<NtfSession<S>, Error> {
    let (mut reader, mut writer, info) = split(tls);
    let private = random_array::<32>()?;
    let public = PublicKey::X25519(x25519_public(&private));
    let hello = NtfServerHello {
        version_range: server_offer(info.alpn.is_some(), supported),
        session_id: info.session_id.clone(),
        signed_key: Some(config.sign_key(&public)?),
    };
    writer.write_block(&hello.to_bytes()).await?;
    let bytes = read_hello(&mut reader).await?;
    let client = NtfClientHello::parse(&bytes).map_err(|_| parse_error())?;
    let agreement = server_negotiate(hello.version_range, config.key_hash().as_bytes(), &client)?;
    Ok(NtfSession {
        reader,
        writer,
        tls: info,
        agreement,
        server_private_key: Some(private),
    })
}

/// The client side of the NTF handshake on a TLS connection to the server `key_hash`, with the
/// client's version range `versions`.
///
/// # Errors
/// `HANDSHAKE PARSE`, `SESSION`, `VERSION`, `HANDSHAKE BAD_AUTH` as [`Error::Transport`]; IO
/// errors.
pub async fn ntf_client_handshake<S: AsyncRead + AsyncWrite>(
    tls: TlsStream<S>,
    key_hash: &KeyHash,
    versions: VersionRange,
) -> Result<NtfSession<S>, Error> {
    let (mut reader, mut writer, info) = split(tls);
    let bytes = read_hello(&mut reader).await?;
    let hello = NtfServerHello::parse(&bytes).map_err(|_| parse_error())?;
    let agreement = client_negotiate_with(
        versions,
        &info.session_id,
        info.peer_key().as_ref(),
        &hello,
        &OpenSslVerifier,
    )?;
    let reply = NtfClientHello {
        version: agreement.version,
        key_hash: key_hash.as_bytes().to_vec(),
    };
    writer.write_block(&reply.to_bytes()).await?;
    Ok(NtfSession {
        reader,
        writer,
        tls: info,
        agreement,
        server_private_key: None,
    })
}
