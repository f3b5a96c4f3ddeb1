//! Service clients over real TLS (SMP v16+): the client certificate in TLS and in the hello,
//! the relay's checks and its `R service-id` / `E error` answer (`smpServerHandshake`'s
//! `getClientService`, `smpClientHandshake`'s service part).

use std::net::SocketAddr;
use std::sync::OnceLock;

use ref_transport::{
    smp_client_handshake_service, smp_server_handshake, smp_server_handshake_services, Error,
    ServerCredentials, SignAlgorithm, SmpServiceCredentials, SmpSession, TlsClientConfig,
    TlsServerConfig,
};
use smp_proto::block::{HandshakeError, TransportError};
use smp_proto::crypto::{ed25519_public, Certificate};
use smp_proto::handshake::ServiceRole;
use smp_proto::version::{smp, Version, VersionRange};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn relay() -> &'static ServerCredentials {
    static C: OnceLock<ServerCredentials> = OnceLock::new();
    C.get_or_init(|| ServerCredentials::generate("127.0.0.1").unwrap().1)
}

/// The notification server's credentials: Ed448, as the reference's `init` makes them.
fn ntf() -> &'static ServerCredentials {
    static C: OnceLock<ServerCredentials> = OnceLock::new();
    C.get_or_init(|| {
        ServerCredentials::generate_with("ntf", SignAlgorithm::Ed448)
            .unwrap()
            .1
    })
}

type Served = JoinHandle<Result<(SmpSession<TcpStream>, Vec<Certificate>), Error>>;

/// One relay connection; `ask` asks for client certificates, `refuse` fails the lookup.
async fn serve(ask: bool, refuse: bool) -> (SocketAddr, Served) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = if ask {
        TlsServerConfig::with_client_certificates(relay(), &[smp::ALPN]).unwrap()
    } else {
        TlsServerConfig::new(relay(), &[smp::ALPN]).unwrap()
    };
    let task = tokio::spawn(async move {
        let (tcp, _) = l.accept().await?;
        let tls = cfg.accept(tcp).await?;
        let chain = tls.info.peer_chain.clone();
        let mut lookup = |role: ServiceRole, _: &[Certificate], fp: &[u8; 32]| {
            assert_eq!(role, ServiceRole::Notifier);
            if refuse {
                Err(TransportError::Handshake(HandshakeError::BadService))
            } else {
                Ok(fp[..8].to_vec())
            }
        };
        let (s, _) = smp_server_handshake_services(tls, &cfg, smp::SUPPORTED, &mut lookup).await?;
        Ok((s, chain))
    });
    (addr, task)
}

async fn client(
    addr: SocketAddr,
    service: Option<&SmpServiceCredentials>,
    versions: VersionRange,
) -> Result<SmpSession<TcpStream>, Error> {
    let tcp = TcpStream::connect(addr).await?;
    let tls_cfg = match service {
        Some(s) => s.tls_client_config(&[smp::ALPN])?,
        None => TlsClientConfig::new(&[smp::ALPN])?,
    };
    let kh = relay().key_hash();
    let tls = tls_cfg.connect(tcp, &kh).await?;
    Ok(
        smp_client_handshake_service(tls, &kh, versions, false, service)
            .await?
            .0,
    )
}

fn service() -> SmpServiceCredentials {
    SmpServiceCredentials::new(ServiceRole::Notifier, ntf()).unwrap()
}

#[tokio::test]
async fn service_client_gets_its_id() {
    let sc = service();
    assert_eq!(sc.cert_hash(), ntf().key_hash().as_bytes());
    let (addr, server) = serve(true, false).await;
    let c = client(addr, Some(&sc), smp::SUPPORTED).await.unwrap();
    let (s, tls_chain) = server.await.unwrap().unwrap();
    assert_eq!(tls_chain, ntf().chain().unwrap());
    let cs = c.service.clone().unwrap();
    let ss = s.service.clone().unwrap();
    assert_eq!(cs.service_id, ntf().key_hash().as_bytes()[..8].to_vec());
    assert_eq!(ss.service_id, cs.service_id);
    assert_eq!(
        (cs.role, ss.role),
        (ServiceRole::Notifier, ServiceRole::Notifier)
    );
    assert_eq!(ss.cert_hash, *sc.cert_hash());
    assert_eq!(cs.cert_hash, *sc.cert_hash());
    // the relay holds the public half of the client's session key
    assert_eq!(ss.key, ed25519_public(&cs.key));
    assert_eq!(c.version, smp::CURRENT);
    assert!(c.block_encryption() && s.block_encryption());
}

#[tokio::test]
async fn plain_client_on_a_relay_asking_for_certificates() {
    let (addr, server) = serve(true, false).await;
    let c = client(addr, None, smp::SUPPORTED).await.unwrap();
    let (s, chain) = server.await.unwrap().unwrap();
    assert!(chain.is_empty());
    assert_eq!((c.service, s.service), (None, None));
}

#[tokio::test]
async fn no_service_below_v16() {
    let sc = service();
    let (addr, server) = serve(true, false).await;
    let v15 = VersionRange::new(smp::MIN, Version(15)).unwrap();
    let c = client(addr, Some(&sc), v15).await.unwrap();
    let (s, chain) = server.await.unwrap().unwrap();
    // the certificate is still sent in TLS, but not in the hello
    assert_eq!(chain.len(), 2);
    assert_eq!(c.version, Version(15));
    assert_eq!((c.service, s.service), (None, None));
}

#[tokio::test]
async fn relay_not_asking_answers_bad_auth() {
    let sc = service();
    let (addr, server) = serve(false, false).await;
    let e = client(addr, Some(&sc), smp::SUPPORTED).await.unwrap_err();
    let bad_auth = TransportError::Handshake(HandshakeError::BadAuth);
    assert_eq!(e.transport(), Some(bad_auth));
    assert_eq!(
        server.await.unwrap().unwrap_err().transport(),
        Some(bad_auth)
    );
}

#[tokio::test]
async fn refused_service_is_bad_service() {
    let sc = service();
    let (addr, server) = serve(true, true).await;
    let e = client(addr, Some(&sc), smp::SUPPORTED).await.unwrap_err();
    let bad = TransportError::Handshake(HandshakeError::BadService);
    assert_eq!(e.transport(), Some(bad));
    assert_eq!(server.await.unwrap().unwrap_err().transport(), Some(bad));
}

#[tokio::test]
async fn hello_chain_other_than_tls_chain_is_bad_auth() {
    // TLS with one certificate, the hello with another's: the relay answers BAD_AUTH
    let other = ServerCredentials::generate("other").unwrap().1;
    let in_hello = SmpServiceCredentials::new(ServiceRole::Notifier, &other).unwrap();
    let (addr, server) = serve(true, false).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let kh = relay().key_hash();
    let tls = service()
        .tls_client_config(&[smp::ALPN])
        .unwrap()
        .connect(tcp, &kh)
        .await
        .unwrap();
    let e = smp_client_handshake_service(tls, &kh, smp::SUPPORTED, false, Some(&in_hello))
        .await
        .unwrap_err();
    let bad_auth = TransportError::Handshake(HandshakeError::BadAuth);
    assert_eq!(e.transport(), Some(bad_auth));
    assert_eq!(
        server.await.unwrap().unwrap_err().transport(),
        Some(bad_auth)
    );
}

#[tokio::test]
async fn old_server_handshake_refuses_services() {
    // smp_server_handshake (no lookup) answers BAD_SERVICE after the checks
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = TlsServerConfig::with_client_certificates(relay(), &[smp::ALPN]).unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let tls = cfg.accept(tcp).await.unwrap();
        smp_server_handshake(tls, &cfg, smp::SUPPORTED)
            .await
            .map(|_| ())
    });
    let e = client(addr, Some(&service()), smp::SUPPORTED)
        .await
        .unwrap_err();
    let bad = TransportError::Handshake(HandshakeError::BadService);
    assert_eq!(e.transport(), Some(bad));
    assert_eq!(server.await.unwrap().unwrap_err().transport(), Some(bad));
}
