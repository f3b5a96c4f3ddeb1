//! Servers with Ed448 credentials (the reference's default, `--sign-algorithm ED448`): TLS with
//! an Ed448 chain, and the NTF and SMP handshakes at each version, whose session key is signed
//! with the Ed448 leaf key. The codecs' built-in verifier alone would answer `HANDSHAKE
//! BAD_AUTH`; the transport's clients verify with OpenSSL.

use std::net::SocketAddr;
use std::sync::OnceLock;

use ntf_proto::handshake::{client_negotiate, client_negotiate_with, NtfServerHello};
use ntf_proto::version as ntf_version;
use ref_transport::{
    ntf_client_handshake, ntf_server_handshake, smp_client_handshake, smp_server_handshake,
    BlockReader, OpenSslVerifier, ServerCredentials, SignAlgorithm, TlsClientConfig,
    TlsServerConfig, TlsStream,
};
use smp_proto::block::{HandshakeError, TransportError, NTF_BLOCK_SIZE, SMP_BLOCK_SIZE};
use smp_proto::handshake::{smp_client_negotiate, smp_client_negotiate_with, SmpServerHello};
use smp_proto::keys::KeyAlgorithm;
use smp_proto::version::{smp, Version, VersionRange};
use tokio::net::{TcpListener, TcpStream};

fn creds() -> &'static ServerCredentials {
    static C: OnceLock<ServerCredentials> = OnceLock::new();
    C.get_or_init(|| {
        ServerCredentials::generate_with("127.0.0.1", SignAlgorithm::Ed448)
            .unwrap()
            .1
    })
}

fn range(a: u16, b: u16) -> VersionRange {
    VersionRange::new(Version(a), Version(b)).unwrap()
}

/// Serves one TLS connection with `alpn` on a fresh port and runs `handshake` on it.
async fn serve<T: Send + 'static, F>(
    alpn: &'static [u8],
    handshake: impl FnOnce(TlsStream<TcpStream>, TlsServerConfig) -> F + Send + 'static,
) -> (SocketAddr, tokio::task::JoinHandle<T>)
where
    F: std::future::Future<Output = T> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = TlsServerConfig::new(creds(), &[alpn]).unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let tls = cfg.accept(tcp).await.unwrap();
        handshake(tls, cfg).await
    });
    (addr, task)
}

async fn connect(addr: SocketAddr, alpn: &[u8]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsClientConfig::new(&[alpn])
        .unwrap()
        .connect(tcp, &creds().key_hash())
        .await
        .unwrap()
}

#[tokio::test]
async fn tls_presents_and_validates_an_ed448_chain() {
    let (addr, server) = serve(ntf_version::ALPN, |_, _| async {}).await;
    let tls = connect(addr, ntf_version::ALPN).await;
    // the chain validated against the key hash (SHA-256 of the Ed448 CA certificate DER)
    assert_eq!(tls.info.peer_chain.len(), 2);
    assert_eq!(
        tls.info.peer_chain[1].fingerprint(),
        *creds().key_hash().as_bytes()
    );
    assert_eq!(
        tls.info.peer_key().map(|k| k.algorithm()),
        Some(KeyAlgorithm::Ed448)
    );
    // the leaf key proved itself in TLS 1.3 CertificateVerify, so the signature scheme was ed448
    let ssl = tls.stream.ssl();
    assert_eq!(ssl.version_str(), "TLSv1.3");
    assert_eq!(
        ssl.peer_certificate().unwrap().public_key().unwrap().id(),
        openssl::pkey::Id::ED448
    );
    server.await.unwrap();
}

#[tokio::test]
async fn ntf_handshake_at_each_version() {
    for v in 1..=3u16 {
        let (addr, server) = serve(ntf_version::ALPN, |tls, cfg| async move {
            ntf_server_handshake(tls, &cfg, ntf_version::SUPPORTED).await
        })
        .await;
        let tls = connect(addr, ntf_version::ALPN).await;
        let kh = creds().key_hash();
        let client = ntf_client_handshake(tls, &kh, range(1, v)).await.unwrap();
        let server = server.await.unwrap().unwrap();
        assert_eq!(client.agreement.version, Version(v));
        assert_eq!(server.agreement.version, Version(v));
        let server_public = smp_proto::crypto::x25519_public(&server.server_private_key.unwrap());
        assert_eq!(client.agreement.server_key, Some(server_public));
    }
}

#[tokio::test]
async fn smp_handshake_at_each_version() {
    for v in smp::MIN.0..=smp::CURRENT.0 {
        let (addr, server) = serve(smp::ALPN, |tls, cfg| async move {
            smp_server_handshake(tls, &cfg, smp::SUPPORTED).await
        })
        .await;
        let tls = connect(addr, smp::ALPN).await;
        let kh = creds().key_hash();
        let (mut client, ca) = smp_client_handshake(tls, &kh, range(smp::MIN.0, v), false)
            .await
            .unwrap();
        let (mut server, sa) = server.await.unwrap().unwrap();
        assert_eq!((ca.version, sa.version), (Version(v), Version(v)));
        let server_public = smp_proto::crypto::x25519_public(&server.private_key.unwrap());
        assert_eq!(ca.server_key, Some(server_public));
        assert_eq!(client.block_encryption(), v >= smp::ENCRYPTED_BLOCK.0);
        client.writer.write_block(b"ping").await.unwrap();
        assert_eq!(
            server.reader.read_block().await.unwrap(),
            Ok(b"ping".to_vec())
        );
    }
}

/// The server hellos as received, checked with the codecs' default verifier (what failed
/// before) and with OpenSSL's.
#[tokio::test]
async fn built_in_verifier_alone_is_bad_auth() {
    let bad_auth = TransportError::Handshake(HandshakeError::BadAuth);
    let kh = creds().key_hash();

    let (addr, server) = serve(ntf_version::ALPN, |tls, cfg| async move {
        let _ = ntf_server_handshake(tls, &cfg, ntf_version::SUPPORTED).await;
    })
    .await;
    let tls = connect(addr, ntf_version::ALPN).await;
    let (sid, key) = (tls.info.session_id.clone(), tls.info.peer_key());
    let (r, _w) = tokio::io::split(tls.stream);
    let block = BlockReader::new(r, NTF_BLOCK_SIZE)
        .read_block()
        .await
        .unwrap()
        .unwrap();
    let hello = NtfServerHello::parse(&block).unwrap();
    let ours = ntf_version::SUPPORTED;
    assert_eq!(
        client_negotiate(ours, &sid, key.as_ref(), &hello),
        Err(bad_auth)
    );
    assert!(client_negotiate_with(ours, &sid, key.as_ref(), &hello, &OpenSslVerifier).is_ok());
    drop(_w);
    server.await.unwrap();

    let (addr, server) = serve(smp::ALPN, |tls, cfg| async move {
        let _ = smp_server_handshake(tls, &cfg, smp::SUPPORTED).await;
    })
    .await;
    let tls = connect(addr, smp::ALPN).await;
    let (sid, key) = (tls.info.session_id.clone(), tls.info.peer_key());
    let (r, _w) = tokio::io::split(tls.stream);
    let block = BlockReader::new(r, SMP_BLOCK_SIZE)
        .read_block()
        .await
        .unwrap()
        .unwrap();
    let hello = SmpServerHello::parse(&block).unwrap();
    let (ours, kh) = (smp::SUPPORTED, kh.as_bytes());
    assert_eq!(
        smp_client_negotiate(ours, &sid, kh, key.as_ref(), false, true, &hello),
        Err(bad_auth)
    );
    let ok = smp_client_negotiate_with(
        ours,
        &sid,
        kh,
        key.as_ref(),
        false,
        true,
        &hello,
        &OpenSslVerifier,
    );
    assert!(ok.is_ok());
    // the signed key of the Ed448 server does not verify with another Ed448 key
    let other = ServerCredentials::generate_with("x", SignAlgorithm::Ed448)
        .unwrap()
        .1;
    let other_key = other.chain().unwrap()[0].public_key();
    assert_eq!(
        smp_client_negotiate_with(
            ours,
            &sid,
            kh,
            other_key.as_ref(),
            false,
            true,
            &hello,
            &OpenSslVerifier
        ),
        Err(bad_auth)
    );
    drop(_w);
    server.await.unwrap();
}
