//! Real TLS on 127.0.0.1: the NTF and SMP handshakes, tls-unique, ALPN, the key hash check,
//! and block IO over the established session.

use std::net::SocketAddr;
use std::sync::OnceLock;

use ntf_proto::version as ntf_version;
use ref_transport::{
    ntf_client_handshake, ntf_server_handshake, smp_client_handshake, smp_server_handshake, Error,
    NtfSession, ServerCredentials, TlsClientConfig, TlsServerConfig,
};
use smp_proto::block::{HandshakeError, TransportError, NTF_BLOCK_SIZE};
use smp_proto::server::KeyHash;
use smp_proto::version::{smp, Version, VersionRange};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn creds() -> &'static ServerCredentials {
    static C: OnceLock<ServerCredentials> = OnceLock::new();
    C.get_or_init(|| ServerCredentials::generate("127.0.0.1").unwrap().1)
}

fn range(a: u16, b: u16) -> VersionRange {
    VersionRange::new(Version(a), Version(b)).unwrap()
}

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Accepts one connection and runs the NTF server handshake with `supported`.
fn ntf_server(
    l: TcpListener,
    supported: VersionRange,
) -> JoinHandle<Result<NtfSession<TcpStream>, Error>> {
    let cfg = TlsServerConfig::new(creds(), &[ntf_version::ALPN]).unwrap();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await?;
        let tls = cfg.accept(tcp).await?;
        ntf_server_handshake(tls, &cfg, supported).await
    })
}

async fn ntf_client(
    addr: SocketAddr,
    alpn: bool,
    tls_key_hash: &KeyHash,
    hello_key_hash: &KeyHash,
    versions: VersionRange,
) -> Result<NtfSession<TcpStream>, Error> {
    let alpn: &[&[u8]] = if alpn { &[ntf_version::ALPN] } else { &[] };
    let tcp = TcpStream::connect(addr).await?;
    let tls = TlsClientConfig::new(alpn)?
        .connect(tcp, tls_key_hash)
        .await?;
    ntf_client_handshake(tls, hello_key_hash, versions).await
}

#[tokio::test]
async fn ntf_handshake_at_each_version() {
    let kh = creds().key_hash();
    for v in 1..=3u16 {
        let (l, addr) = listener().await;
        let server = ntf_server(l, ntf_version::SUPPORTED);
        let client = ntf_client(addr, true, &kh, &kh, range(1, v)).await.unwrap();
        let server = server.await.unwrap().unwrap();
        assert_eq!(client.agreement.version, Version(v));
        assert_eq!(server.agreement.version, Version(v));
        assert_eq!(server.agreement.range, range(1, v));
        // tls-unique: the client's Finished, 32 bytes with SHA-256, the same on both sides
        assert_eq!(client.session_id().len(), 32);
        assert_eq!(client.session_id(), server.session_id());
        assert_eq!(client.tls.alpn.as_deref(), Some(&b"ntf/1"[..]));
        assert_eq!(server.tls.alpn.as_deref(), Some(&b"ntf/1"[..]));
        // the server's session key: sent and verified from v2 on (the range reaches v2 even at v1
        // only when the client's range does; here the server offers 1-3, so always sent)
        let server_public = smp_proto::crypto::x25519_public(&server.server_private_key.unwrap());
        assert_eq!(client.agreement.server_key, Some(server_public));
        assert_eq!(client.batch(), v >= 2);
        assert_eq!(client.tls.peer_chain.len(), 2);
    }
}

#[tokio::test]
async fn sessions_differ_between_connections() {
    let kh = creds().key_hash();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (l, addr) = listener().await;
        let server = ntf_server(l, ntf_version::SUPPORTED);
        let c = ntf_client(addr, true, &kh, &kh, ntf_version::SUPPORTED)
            .await
            .unwrap();
        server.await.unwrap().unwrap();
        ids.push(c.session_id().to_vec());
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn wrong_key_hash_rejected_by_client() {
    let (l, addr) = listener().await;
    let server = ntf_server(l, ntf_version::SUPPORTED);
    let other = ServerCredentials::generate("x").unwrap().1.key_hash();
    let e = ntf_client(addr, true, &other, &other, ntf_version::SUPPORTED)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Certificate("unknown CA: key hash mismatch")),
        "{e:?}"
    );
    // the server sees the connection end before a client hello
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn wrong_key_hash_in_hello_rejected_by_server() {
    let kh = creds().key_hash();
    let (l, addr) = listener().await;
    let server = ntf_server(l, ntf_version::SUPPORTED);
    let other = KeyHash::from([7u8; 32]);
    let _client = ntf_client(addr, true, &kh, &other, ntf_version::SUPPORTED)
        .await
        .unwrap();
    let e = server.await.unwrap().unwrap_err();
    assert_eq!(
        e.transport(),
        Some(TransportError::Handshake(HandshakeError::Identity))
    );
}

#[tokio::test]
async fn no_alpn_gets_legacy_range() {
    let kh = creds().key_hash();
    let (l, addr) = listener().await;
    let server = ntf_server(l, ntf_version::SUPPORTED);
    let client = ntf_client(addr, false, &kh, &kh, ntf_version::SUPPORTED)
        .await
        .unwrap();
    let server = server.await.unwrap().unwrap();
    assert_eq!(client.tls.alpn, None);
    assert_eq!(client.agreement.version, Version(1));
    assert_eq!(client.agreement.range, range(1, 1));
    assert_eq!(server.agreement.version, Version(1));
    // v1 hello carries no session key
    assert_eq!(client.agreement.server_key, None);

    // a client that needs v2+ cannot talk to a server without ALPN
    let (l, addr) = listener().await;
    let server = ntf_server(l, ntf_version::SUPPORTED);
    let e = ntf_client(addr, false, &kh, &kh, range(2, 3))
        .await
        .unwrap_err();
    assert_eq!(e.transport(), Some(TransportError::Version));
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn client_version_above_server_rejected() {
    let kh = creds().key_hash();
    let (l, addr) = listener().await;
    let server = ntf_server(l, range(1, 2));
    let client = ntf_client(addr, true, &kh, &kh, range(1, 3)).await.unwrap();
    assert_eq!(client.agreement.version, Version(2));
    assert_eq!(server.await.unwrap().unwrap().agreement.version, Version(2));
}

#[tokio::test]
async fn block_round_trip_and_garbage() {
    let kh = creds().key_hash();
    let (l, addr) = listener().await;
    let server = ntf_server(l, ntf_version::SUPPORTED);
    let mut client = ntf_client(addr, true, &kh, &kh, ntf_version::SUPPORTED)
        .await
        .unwrap();
    let mut server = server.await.unwrap().unwrap();

    // a batch of three transmissions one way, one block back
    let ts = vec![b"first".to_vec(), b"second".to_vec(), vec![b'x'; 300]];
    assert!(client
        .writer
        .write_transmissions(&ts, true)
        .await
        .unwrap()
        .is_empty());
    let got: Vec<Vec<u8>> = server
        .reader
        .read_transmissions(true)
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, ts);
    server
        .writer
        .write_block(b"\x01\x00\x04pong")
        .await
        .unwrap();
    assert_eq!(
        client.reader.read_transmissions(true).await.unwrap(),
        vec![Ok(b"pong".to_vec())]
    );

    // garbage: a length beyond the block, then random bytes; typed errors, the session goes on
    let mut bad = vec![0xffu8; NTF_BLOCK_SIZE];
    client.writer.write_raw(&bad).await.unwrap();
    assert_eq!(
        server.reader.read_block().await.unwrap(),
        Err(TransportError::LargeMsg)
    );
    bad.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i * 37 % 251) as u8);
    bad[0] = 0;
    bad[1] = 3;
    client.writer.write_raw(&bad).await.unwrap();
    let r = server.reader.read_transmissions(true).await.unwrap();
    assert_eq!(r, vec![Err(TransportError::Block)]);
    client.writer.write_block(b"\x01\x00\x02ok").await.unwrap();
    assert_eq!(
        server.reader.read_transmissions(true).await.unwrap(),
        vec![Ok(b"ok".to_vec())]
    );

    // half a block and close: Closed
    client.writer.write_raw(&[0u8; 100]).await.unwrap();
    client.writer.shutdown().await.unwrap();
    drop(client);
    assert!(matches!(
        server.reader.read_block().await,
        Err(Error::Closed)
    ));
}

#[tokio::test]
async fn garbage_client_hello_is_parse_error() {
    let kh = creds().key_hash();
    let (l, addr) = listener().await;
    let server = ntf_server(l, ntf_version::SUPPORTED);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsClientConfig::new(&[ntf_version::ALPN])
        .unwrap()
        .connect(tcp, &kh)
        .await
        .unwrap();
    let (_r, w) = tokio::io::split(tls.stream);
    let mut w = ref_transport::BlockWriter::new(w, NTF_BLOCK_SIZE);
    w.write_raw(&[0xffu8; NTF_BLOCK_SIZE]).await.unwrap();
    let e = server.await.unwrap().unwrap_err();
    assert_eq!(
        e.transport(),
        Some(TransportError::Handshake(HandshakeError::Parse))
    );
}

#[tokio::test]
async fn smp_handshake_with_block_encryption() {
    let kh = creds().key_hash();
    for (alpn, want, encrypted) in [(true, smp::CURRENT, true), (false, smp::MIN, false)] {
        let (l, addr) = listener().await;
        let cfg = TlsServerConfig::new(creds(), &[smp::ALPN]).unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await?;
            let tls = cfg.accept(tcp).await?;
            smp_server_handshake(tls, &cfg, smp::SUPPORTED).await
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let alpns: &[&[u8]] = if alpn { &[smp::ALPN] } else { &[] };
        let tls = TlsClientConfig::new(alpns)
            .unwrap()
            .connect(tcp, &kh)
            .await
            .unwrap();
        let (mut client, ca) = smp_client_handshake(tls, &kh, smp::SUPPORTED, false)
            .await
            .unwrap();
        let (mut server, sa) = server.await.unwrap().unwrap();
        assert_eq!(ca.version, want);
        assert_eq!(sa.version, want);
        assert_eq!(client.session_id(), server.session_id());
        assert_eq!(client.block_encryption(), encrypted);
        assert_eq!(server.block_encryption(), encrypted);
        assert_eq!(client.params().implied_session_id, alpn);
        client.writer.write_block(b"to server").await.unwrap();
        assert_eq!(
            server.reader.read_block().await.unwrap(),
            Ok(b"to server".to_vec())
        );
        server.writer.write_block(b"to client").await.unwrap();
        server.writer.write_block(b"again").await.unwrap();
        assert_eq!(
            client.reader.read_block().await.unwrap(),
            Ok(b"to client".to_vec())
        );
        assert_eq!(
            client.reader.read_block().await.unwrap(),
            Ok(b"again".to_vec())
        );
        if encrypted {
            // the reference's direction: the server sends with the first chain key of
            // sbcInit(session id, dh), the client with the second; the server sent two blocks, the client one
            let secret = smp_proto::crypto::dh(
                &smp_proto::crypto::x25519_public(&server.private_key.unwrap()),
                &client.private_key.unwrap(),
            );
            let (mut first, mut second) = smp_proto::crypto::sbc_init(client.session_id(), &secret);
            first.next_key();
            first.next_key();
            server.writer.write_block(b"probe").await.unwrap();
            let raw = client.reader.read_raw().await.unwrap().to_vec();
            assert_eq!(
                smp_proto::crypto::decrypt_block(&mut first, &raw).unwrap(),
                b"probe"
            );
            second.next_key();
            let sealed = client.writer.seal(b"from client").unwrap();
            assert_eq!(
                smp_proto::crypto::decrypt_block(&mut second, &sealed).unwrap(),
                b"from client"
            );
            client.writer.write_raw(&sealed).await.unwrap();
            assert_eq!(
                server.reader.read_block().await.unwrap(),
                Ok(b"from client".to_vec())
            );
            // an unencrypted block on an encrypted session does not decrypt
            let mut plain = Vec::new();
            smp_proto::block::pad(b"plain", 16384, &mut plain).unwrap();
            client.writer.write_raw(&plain).await.unwrap();
            assert_eq!(
                server.reader.read_block().await.unwrap(),
                Err(TransportError::LargeMsg)
            );
        }
    }
}
