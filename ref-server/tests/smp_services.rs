//! Notifier services over real TLS on loopback: a client with a service certificate (Ed448, as
//! the reference's NTF `init` makes them) connects to the relay, subscribes queues with
//! service-signed `NSUB`, resubscribes them all with one `NSUBS` (`SOKS n`), a second session
//! of the service ends the first (`ENDS n`), and the association survives a relay restart on
//! its SQLite store.

use std::net::SocketAddr;
use std::time::Duration;

use ref_client::smp::{
    decrypt_nmsg, NotifierCreds, SmpClient, SmpClientConfig, SmpClientError, SmpEvent,
};
use ref_server::smp::{RelayConfig, SmpRelayServer, SqliteQueueStore};
use ref_transport::{ServerCredentials, SignAlgorithm, SmpServiceCredentials};
use smp_proto::broker::BrokerMsg;
use smp_proto::command::{SmpCommand, SubscriptionMode};
use smp_proto::error_type::{CommandError, ErrorType, HandshakeError, TransportError};
use smp_proto::handshake::ServiceRole;
use smp_proto::message::MsgFlags;
use smp_proto::server::KeyHash;
use smp_proto::version::{Version, VersionRange};
use tokio::net::TcpListener;

const NTF: MsgFlags = MsgFlags { notification: true };
const QUIET: Duration = Duration::from_millis(300);

struct Relay {
    addr: SocketAddr,
    key_hash: KeyHash,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(server: SmpRelayServer, addr: &str) -> Relay {
    let l = TcpListener::bind(addr).await.unwrap();
    let addr = l.local_addr().unwrap();
    let key_hash = server.key_hash();
    Relay {
        addr,
        key_hash,
        task: tokio::spawn(server.run(l)),
    }
}

fn ntf_credentials() -> ServerCredentials {
    ServerCredentials::generate_with("ntf", SignAlgorithm::Ed448)
        .unwrap()
        .1
}

fn config(service: Option<&SmpServiceCredentials>, max: u16) -> SmpClientConfig {
    SmpClientConfig {
        versions: VersionRange::new(Version(6), Version(max)).unwrap(),
        timeout: Duration::from_secs(5),
        service: service.cloned(),
        ..SmpClientConfig::default()
    }
}

impl Relay {
    async fn client(&self, service: Option<&SmpServiceCredentials>) -> SmpClient {
        SmpClient::connect_addr(self.addr, &self.key_hash, &config(service, 18))
            .await
            .unwrap()
    }
}

async fn event(c: &SmpClient) -> (Vec<u8>, BrokerMsg) {
    let SmpEvent { entity_id, msg } = c.next_event().await.unwrap();
    (entity_id, msg.unwrap())
}

async fn notified(c: &SmpClient, n: &NotifierCreds) {
    match event(c).await {
        (e, BrokerMsg::Nmsg { nonce, enc_meta }) if e == n.notifier_id => {
            decrypt_nmsg(&n.rcv_ntf_dh_secret, &nonce, &enc_meta).unwrap();
        }
        other => panic!("expected NMSG, got {other:?}"),
    }
}

async fn quiet(c: &SmpClient) {
    match c.next_event_within(QUIET).await {
        Err(SmpClientError::Timeout) => {}
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_subscriptions_over_tls() {
    let (_, relay_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("smp-store.db");
    let store = SqliteQueueStore::open(&db).unwrap();
    let server = SmpRelayServer::with_store(&relay_creds, RelayConfig::default(), store).unwrap();
    let r = start(server, "127.0.0.1:0").await;
    let ntf_creds = ntf_credentials();
    let sc = SmpServiceCredentials::new(ServiceRole::Notifier, &ntf_creds).unwrap();

    let rcv = r.client(None).await;
    let mut queues = Vec::new();
    for _ in 0..3 {
        let q = rcv
            .create_queue(SubscriptionMode::OnlyCreate, true)
            .await
            .unwrap();
        let n = rcv.enable_notifications(&q).await.unwrap();
        queues.push((q, n));
    }

    // a service session: its id from the handshake; service-signed NSUB associates
    let a = r.client(Some(&sc)).await;
    let svc = a.service().unwrap().service_id.clone();
    assert_eq!(
        a.service().unwrap().cert_hash,
        *ntf_creds.key_hash().as_bytes()
    );
    for (_, n) in &queues {
        a.subscribe_notifications(&n.notifier_id, &n.notifier_key.private)
            .await
            .unwrap();
    }
    rcv.send_message(&queues[0].0.snd_id, None, NTF, b"1")
        .await
        .unwrap();
    notified(&a, &queues[0].1).await;
    // a notifier service may not act as a recipient
    let e = a
        .send_command(
            Some(&queues[0].0.rcv_key.private),
            &queues[0].0.rcv_id,
            &SmpCommand::Ndel,
        )
        .await;
    assert!(matches!(
        e,
        Err(SmpClientError::Server(ErrorType::Cmd(
            CommandError::Prohibited
        )))
    ));

    // a second session of the service: NSUBS answers the count, the first gets ENDS
    let b = r.client(Some(&sc)).await;
    assert_eq!(b.service().unwrap().service_id, svc);
    assert_eq!(b.subscribe_service_notifications().await.unwrap(), 3);
    assert_eq!(event(&a).await, (svc.clone(), BrokerMsg::Ends { count: 3 }));
    rcv.send_message(&queues[1].0.snd_id, None, NTF, b"2")
        .await
        .unwrap();
    notified(&b, &queues[1].1).await;
    quiet(&a).await;

    // a plain NSUB takes a queue back: END to the service's session
    let plain = r.client(None).await;
    let (q2, n2) = &queues[2];
    plain
        .subscribe_notifications(&n2.notifier_id, &n2.notifier_key.private)
        .await
        .unwrap();
    assert_eq!(event(&b).await, (n2.notifier_id.clone(), BrokerMsg::End));
    rcv.send_message(&q2.snd_id, None, NTF, b"3").await.unwrap();
    notified(&plain, n2).await;
    // NSUBS needs a service session (the relay would answer ERR SERVICE)
    assert!(matches!(
        plain.subscribe_service_notifications().await,
        Err(SmpClientError::NoService)
    ));
    drop((a, b, plain));

    // the relay restarts on the same store: one NSUBS resubscribes the associated queues, and
    // what was sent meanwhile is delivered after SOKS
    let addr = r.addr.to_string();
    drop(r);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let store = SqliteQueueStore::open(&db).unwrap();
    let server = SmpRelayServer::with_store(&relay_creds, RelayConfig::default(), store).unwrap();
    let r = start(server, &addr).await;
    let rcv = r.client(None).await;
    rcv.send_message(&queues[0].0.snd_id, None, NTF, b"4")
        .await
        .unwrap();
    let c = r.client(Some(&sc)).await;
    assert_eq!(c.service().unwrap().service_id, svc);
    assert_eq!(c.subscribe_service_notifications().await.unwrap(), 2);
    notified(&c, &queues[0].1).await;
    rcv.send_message(&queues[1].0.snd_id, None, NTF, b"5")
        .await
        .unwrap();
    notified(&c, &queues[1].1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_v16_a_service_is_a_plain_client() {
    let (_, relay_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let server = SmpRelayServer::new(&relay_creds, RelayConfig::default()).unwrap();
    let r = start(server, "127.0.0.1:0").await;
    let sc = SmpServiceCredentials::new(ServiceRole::Notifier, &ntf_credentials()).unwrap();
    let c = SmpClient::connect_addr(r.addr, &r.key_hash, &config(Some(&sc), 15))
        .await
        .unwrap();
    assert_eq!(c.version(), Version(15));
    assert!(c.service().is_none());
    c.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_another_role_is_bad_service() {
    // the relay registered the certificate as a notifier; as a messaging service it is refused
    let (_, relay_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let server = SmpRelayServer::new(&relay_creds, RelayConfig::default()).unwrap();
    let r = start(server, "127.0.0.1:0").await;
    let creds = ntf_credentials();
    let n = SmpServiceCredentials::new(ServiceRole::Notifier, &creds).unwrap();
    r.client(Some(&n)).await;
    let m = SmpServiceCredentials::new(ServiceRole::Messaging, &creds).unwrap();
    let e = SmpClient::connect_addr(r.addr, &r.key_hash, &config(Some(&m), 18))
        .await
        .unwrap_err();
    match e {
        SmpClientError::Transport(t) => assert_eq!(
            t.transport(),
            Some(TransportError::Handshake(HandshakeError::BadService))
        ),
        other => panic!("{other:?}"),
    }
}
