//! The SMP relay over real TLS on loopback, driven by the SMP client library: queue lifecycle,
//! notifications (NKEY/NSUB/NMSG), END on a second subscriber, DELD (END below v10), NDEL, and
//! notifications kept while nobody is subscribed.

use std::net::SocketAddr;
use std::time::Duration;

use ref_client::smp::{
    decrypt_msg, decrypt_nmsg, AuthKeyPair, NotifierCreds, RecipientQueue, SmpClient,
    SmpClientConfig, SmpClientError, SmpEvent,
};
use ref_server::smp::{RelayConfig, SmpRelayServer};
use ref_transport::ServerCredentials;
use smp_proto::broker::BrokerMsg;
use smp_proto::command::{QueueMode, SmpCommand, SubscriptionMode};
use smp_proto::error_type::{CommandError, ErrorType};
use smp_proto::message::{MsgFlags, NMsgMeta, RcvMsgBody};
use smp_proto::server::KeyHash;
use smp_proto::version::{Version, VersionRange};
use tokio::net::TcpListener;

const QUIET: Duration = Duration::from_millis(400);
const NTF: MsgFlags = MsgFlags { notification: true };
const NO_NTF: MsgFlags = MsgFlags {
    notification: false,
};

struct Relay {
    server: SmpRelayServer,
    addr: SocketAddr,
    key_hash: KeyHash,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay() -> Relay {
    let (_, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let server = SmpRelayServer::new(&creds, RelayConfig::default()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(server.clone().run(l));
    Relay {
        key_hash: server.key_hash(),
        server,
        addr,
        task,
    }
}

impl Relay {
    async fn client(&self, max: u16) -> SmpClient {
        self.client_range(6, max).await
    }

    async fn client_range(&self, min: u16, max: u16) -> SmpClient {
        let config = SmpClientConfig {
            versions: VersionRange::new(Version(min), Version(max)).unwrap(),
            timeout: Duration::from_secs(5),
            ..SmpClientConfig::default()
        };
        SmpClient::connect_addr(self.addr, &self.key_hash, &config)
            .await
            .unwrap()
    }
}

async fn event(c: &SmpClient) -> (Vec<u8>, BrokerMsg) {
    let SmpEvent { entity_id, msg } = c.next_event().await.unwrap();
    (entity_id, msg.unwrap())
}

async fn no_event(c: &SmpClient) {
    match c.next_event_within(QUIET).await {
        Err(SmpClientError::Timeout) => {}
        other => panic!("unexpected event {other:?}"),
    }
}

/// The next MSG event for `q`, decrypted.
async fn message(c: &SmpClient, q: &RecipientQueue) -> (Vec<u8>, RcvMsgBody) {
    match event(c).await {
        (e, BrokerMsg::Msg { msg_id, enc_body }) if e == q.rcv_id => {
            let body = decrypt_msg(&q.rcv_dh_secret, &msg_id, &enc_body).unwrap();
            (msg_id, body)
        }
        other => panic!("expected MSG, got {other:?}"),
    }
}

/// The next NMSG event for `n`, decrypted.
async fn notification(c: &SmpClient, n: &NotifierCreds) -> NMsgMeta {
    match event(c).await {
        (e, BrokerMsg::Nmsg { nonce, enc_meta }) if e == n.notifier_id => {
            assert_eq!(enc_meta.len(), 128 + 16, "metadata padded to 128");
            decrypt_nmsg(&n.rcv_ntf_dh_secret, &nonce, &enc_meta).unwrap()
        }
        other => panic!("expected NMSG, got {other:?}"),
    }
}

fn body_of(b: &RcvMsgBody) -> (&[u8], MsgFlags) {
    match b {
        RcvMsgBody::Message {
            body, msg_flags, ..
        } => (body, *msg_flags),
        RcvMsgBody::Quota { .. } => panic!("quota marker"),
    }
}

fn server_err(r: Result<impl std::fmt::Debug, SmpClientError>) -> ErrorType {
    match r {
        Err(SmpClientError::Server(e)) => e,
        other => panic!("expected ERR, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_lifecycle_at_each_version() {
    let r = relay().await;
    for v in [6u16, 8, 9, 10, 11, 15, 16, 17, 18] {
        let rcv = r.client(v).await;
        let snd = r.client(v).await;
        assert_eq!(rcv.version(), Version(v));
        assert_eq!(rcv.block_encryption(), v >= 11, "block encryption at v{v}");
        let q = rcv
            .create_queue(SubscriptionMode::OnlyCreate, true)
            .await
            .unwrap();
        assert_eq!(q.rcv_id.len(), 24);
        assert_eq!(q.queue_mode, (v >= 9).then_some(QueueMode::Messaging));
        rcv.ping().await.unwrap();

        // unsecured queue: SEND without authorization; the message waits for SUB
        snd.send_message(&q.snd_id, None, NO_NTF, b"first")
            .await
            .unwrap();
        let sub = rcv
            .send_command(Some(&q.rcv_key.private), &q.rcv_id, &SmpCommand::Sub)
            .await
            .unwrap();
        let want = if v >= 16 {
            BrokerMsg::Sok { service_id: None }
        } else {
            BrokerMsg::Ok
        };
        assert_eq!(sub, want, "SUB reply at v{v}");
        let (id1, b1) = message(&rcv, &q).await;
        assert_eq!(body_of(&b1), (&b"first"[..], NO_NTF));
        // GET on a subscribed queue is prohibited
        assert_eq!(
            server_err(rcv.get_message(&q).await),
            ErrorType::Cmd(CommandError::Prohibited)
        );

        // secure: by the sender (SKEY, v9+) or the recipient (KEY)
        let sk = AuthKeyPair::ed25519().unwrap();
        if v >= 9 {
            snd.secure_queue_sender(&q.snd_id, &sk).await.unwrap();
            // again with the same key is fine, another key is not
            snd.secure_queue_sender(&q.snd_id, &sk).await.unwrap();
            let other = AuthKeyPair::ed25519().unwrap();
            assert_eq!(
                server_err(snd.secure_queue_sender(&q.snd_id, &other).await),
                ErrorType::Auth
            );
        } else {
            rcv.secure_queue(&q, &sk.public).await.unwrap();
        }
        assert_eq!(
            server_err(snd.send_message(&q.snd_id, None, NO_NTF, b"x").await),
            ErrorType::Auth
        );
        snd.send_message(&q.snd_id, Some(&sk.private), NO_NTF, b"second")
            .await
            .unwrap();
        // not delivered before the first is acknowledged; ACK returns it
        no_event(&rcv).await;
        assert_eq!(server_err(rcv.ack(&q, b"wrong id").await), ErrorType::NoMsg);
        let (id2, b2) = rcv.ack(&q, &id1).await.unwrap().expect("next message");
        assert_ne!(id1, id2);
        assert_eq!(body_of(&b2).0, b"second");
        assert!(b2.msg_ts() >= b1.msg_ts());
        assert_eq!(rcv.ack(&q, &id2).await.unwrap(), None);
        // an empty queue delivers the next message at once
        snd.send_message(&q.snd_id, Some(&sk.private), NO_NTF, b"third")
            .await
            .unwrap();
        let (id3, b3) = message(&rcv, &q).await;
        assert_eq!(body_of(&b3).0, b"third");
        assert_eq!(rcv.ack(&q, &id3).await.unwrap(), None);

        // OFF: senders get AUTH; DEL: the queue is gone
        rcv.suspend_queue(&q).await.unwrap();
        assert_eq!(
            server_err(
                snd.send_message(&q.snd_id, Some(&sk.private), NO_NTF, b"x")
                    .await
            ),
            ErrorType::Auth
        );
        rcv.delete_queue(&q).await.unwrap();
        assert_eq!(server_err(rcv.subscribe(&q).await), ErrorType::Auth);
        assert_eq!(
            server_err(
                snd.send_message(&q.snd_id, Some(&sk.private), NO_NTF, b"x")
                    .await
            ),
            ErrorType::Auth
        );
        no_event(&rcv).await;
    }
    assert_eq!(r.server.queue_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_errors() {
    let r = relay().await;
    let c = r.client(18).await;
    let q = c
        .create_queue(SubscriptionMode::OnlyCreate, false)
        .await
        .unwrap();
    assert_eq!(q.queue_mode, Some(QueueMode::Contact));
    assert_eq!(c.get_message(&q).await.unwrap(), None);
    c.send_message(&q.snd_id, None, NO_NTF, b"hello")
        .await
        .unwrap();
    let (id, body) = c.get_message(&q).await.unwrap().unwrap();
    assert_eq!(body_of(&body).0, b"hello");
    assert_eq!(c.ack(&q, &id).await.unwrap(), None);
    assert_eq!(c.get_message(&q).await.unwrap(), None);
    // SUB after GET on the same connection is prohibited
    assert_eq!(
        server_err(c.subscribe(&q).await),
        ErrorType::Cmd(CommandError::Prohibited)
    );
    // SKEY on a contact queue is refused
    let sk = AuthKeyPair::ed25519().unwrap();
    assert_eq!(
        server_err(c.secure_queue_sender(&q.snd_id, &sk).await),
        ErrorType::Auth
    );
    // a command with another key
    let mut wrong = q.clone();
    wrong.rcv_key = AuthKeyPair::ed25519().unwrap();
    assert_eq!(server_err(c.delete_queue(&wrong).await), ErrorType::Auth);
    // too large for v18 (16048)
    assert_eq!(
        server_err(
            c.send_message(&q.snd_id, None, NO_NTF, &vec![0; 16049])
                .await
        ),
        ErrorType::LargeMsg
    );
    // X25519 authenticators (v7+) work as well as signatures
    let xk = AuthKeyPair::x25519().unwrap();
    c.secure_queue(&q, &xk.public).await.unwrap();
    c.send_message(&q.snd_id, Some(&xk.private), NO_NTF, b"x")
        .await
        .unwrap();
    // NSUB on an unknown notifier id
    let nk = AuthKeyPair::ed25519().unwrap();
    assert_eq!(
        server_err(c.subscribe_notifications(b"nope", &nk.private).await),
        ErrorType::Auth
    );
    // PING must not carry an entity id
    assert_eq!(
        server_err(c.send_command(None, b"q", &SmpCommand::Ping).await),
        ErrorType::Cmd(CommandError::HasAuth)
    );
    // NEW with notifier credentials (v17+)
    let (q2, ntf) = c
        .create_queue_with(
            SubscriptionMode::Subscribe,
            true,
            None,
            Some(AuthKeyPair::ed25519().unwrap()),
        )
        .await
        .unwrap();
    let ntf = ntf.expect("notifier credentials in IDS");
    let n = r.client(18).await;
    n.subscribe_notifications(&ntf.notifier_id, &ntf.notifier_key.private)
        .await
        .unwrap();
    c.send_message(&q2.snd_id, None, NTF, b"n").await.unwrap();
    let (mid, _) = message(&c, &q2).await;
    assert_eq!(notification(&n, &ntf).await.msg_id, mid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_flow() {
    let r = relay().await;
    let rcv = r.client(18).await;
    let snd = r.client(18).await;
    let ntf = r.client(18).await;
    let q = rcv
        .create_queue(SubscriptionMode::Subscribe, true)
        .await
        .unwrap();
    let creds = rcv.enable_notifications(&q).await.unwrap();
    assert_eq!(creds.notifier_id.len(), 24);
    ntf.subscribe_notifications(&creds.notifier_id, &creds.notifier_key.private)
        .await
        .unwrap();

    // with the flag: NMSG with the message's id and timestamp
    snd.send_message(&q.snd_id, None, NTF, b"hello")
        .await
        .unwrap();
    let (msg_id, body) = message(&rcv, &q).await;
    assert_eq!(body_of(&body), (&b"hello"[..], NTF));
    let meta = notification(&ntf, &creds).await;
    assert_eq!(meta.msg_id, msg_id);
    assert_eq!(meta.msg_ts, body.msg_ts());
    rcv.ack(&q, &msg_id).await.unwrap();

    // without the flag: the message, no NMSG
    snd.send_message(&q.snd_id, None, NO_NTF, b"quiet")
        .await
        .unwrap();
    let (id2, _) = message(&rcv, &q).await;
    no_event(&ntf).await;
    rcv.ack(&q, &id2).await.unwrap();
    assert_eq!(r.server.stored_notifications(), 0);

    // a second NSUB from another connection: END to the first, NMSG to the second only
    let ntf2 = r.client(18).await;
    ntf2.subscribe_notifications(&creds.notifier_id, &creds.notifier_key.private)
        .await
        .unwrap();
    assert_eq!(
        event(&ntf).await,
        (creds.notifier_id.clone(), BrokerMsg::End)
    );
    snd.send_message(&q.snd_id, None, NTF, b"again")
        .await
        .unwrap();
    let (id3, _) = message(&rcv, &q).await;
    assert_eq!(notification(&ntf2, &creds).await.msg_id, id3);
    no_event(&ntf).await;
    rcv.ack(&q, &id3).await.unwrap();

    // a second SUB from another connection: END to the first recipient connection
    let rcv2 = r.client(18).await;
    rcv2.subscribe(&q).await.unwrap();
    assert_eq!(event(&rcv).await, (q.rcv_id.clone(), BrokerMsg::End));

    // DEL: DELD to the notifier subscriber (and to the other recipient subscriber)
    rcv.delete_queue(&q).await.unwrap();
    assert_eq!(
        event(&ntf2).await,
        (creds.notifier_id.clone(), BrokerMsg::Deld)
    );
    assert_eq!(event(&rcv2).await, (q.rcv_id.clone(), BrokerMsg::Deld));
    assert_eq!(
        server_err(
            ntf2.subscribe_notifications(&creds.notifier_id, &creds.notifier_key.private)
                .await
        ),
        ErrorType::Auth
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deld_is_end_below_v10() {
    let r = relay().await;
    let rcv = r.client(18).await;
    let q = rcv
        .create_queue(SubscriptionMode::OnlyCreate, true)
        .await
        .unwrap();
    let creds = rcv.enable_notifications(&q).await.unwrap();
    let old = r.client(9).await;
    assert_eq!(old.version(), Version(9));
    old.subscribe_notifications(&creds.notifier_id, &creds.notifier_key.private)
        .await
        .unwrap();
    let new = r.client_range(10, 10).await;
    let q2 = rcv
        .create_queue(SubscriptionMode::OnlyCreate, true)
        .await
        .unwrap();
    let creds2 = rcv.enable_notifications(&q2).await.unwrap();
    new.subscribe_notifications(&creds2.notifier_id, &creds2.notifier_key.private)
        .await
        .unwrap();
    rcv.delete_queue(&q).await.unwrap();
    rcv.delete_queue(&q2).await.unwrap();
    assert_eq!(
        event(&old).await,
        (creds.notifier_id.clone(), BrokerMsg::End)
    );
    assert_eq!(
        event(&new).await,
        (creds2.notifier_id.clone(), BrokerMsg::Deld)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndel_stops_notifications() {
    let r = relay().await;
    let rcv = r.client(18).await;
    let ntf = r.client(18).await;
    let q = rcv
        .create_queue(SubscriptionMode::Subscribe, true)
        .await
        .unwrap();
    let creds = rcv.enable_notifications(&q).await.unwrap();
    ntf.subscribe_notifications(&creds.notifier_id, &creds.notifier_key.private)
        .await
        .unwrap();
    rcv.disable_notifications(&q).await.unwrap();
    // the subscriber is told, as when the queue is deleted
    assert_eq!(
        event(&ntf).await,
        (creds.notifier_id.clone(), BrokerMsg::Deld)
    );
    rcv.send_message(&q.snd_id, None, NTF, b"after NDEL")
        .await
        .unwrap();
    let (id, _) = message(&rcv, &q).await;
    no_event(&ntf).await;
    assert_eq!(r.server.stored_notifications(), 0);
    assert_eq!(
        server_err(
            ntf.subscribe_notifications(&creds.notifier_id, &creds.notifier_key.private)
                .await
        ),
        ErrorType::Auth
    );
    // NDEL again is OK; NKEY again gives a new notifier id
    rcv.disable_notifications(&q).await.unwrap();
    let creds2 = rcv.enable_notifications(&q).await.unwrap();
    assert_ne!(creds2.notifier_id, creds.notifier_id);
    rcv.ack(&q, &id).await.unwrap();
    // replacing credentials ends the old subscription with DELD
    ntf.subscribe_notifications(&creds2.notifier_id, &creds2.notifier_key.private)
        .await
        .unwrap();
    let creds3 = rcv.enable_notifications(&q).await.unwrap();
    assert_eq!(
        event(&ntf).await,
        (creds2.notifier_id.clone(), BrokerMsg::Deld)
    );
    rcv.send_message(&q.snd_id, None, NTF, b"x").await.unwrap();
    no_event(&ntf).await;
    assert_eq!(
        r.server.stored_notifications(),
        1,
        "kept for {:?}",
        creds3.notifier_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_kept_until_nsub() {
    let r = relay().await;
    let rcv = r.client(18).await;
    let snd = r.client(11).await;
    let q = rcv
        .create_queue(SubscriptionMode::OnlyCreate, true)
        .await
        .unwrap();
    let creds = rcv.enable_notifications(&q).await.unwrap();
    for b in [&b"one"[..], b"two", b"three"] {
        snd.send_message(&q.snd_id, None, NTF, b).await.unwrap();
    }
    snd.send_message(&q.snd_id, None, NO_NTF, b"no ntf")
        .await
        .unwrap();
    assert_eq!(r.server.stored_notifications(), 3);
    // the message ids, in order (after GET, ACK answers OK and the next GET gets the next)
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (id, _) = rcv.get_message(&q).await.unwrap().unwrap();
        assert_eq!(rcv.ack(&q, &id).await.unwrap(), None);
        ids.push(id);
    }
    let ntf = r.client(18).await;
    ntf.subscribe_notifications(&creds.notifier_id, &creds.notifier_key.private)
        .await
        .unwrap();
    for want in &ids {
        assert_eq!(&notification(&ntf, &creds).await.msg_id, want);
    }
    no_event(&ntf).await;
    assert_eq!(r.server.stored_notifications(), 0);
    // a notifier that disconnects: notifications are kept again
    drop(ntf);
    tokio::time::sleep(Duration::from_millis(100)).await;
    snd.send_message(&q.snd_id, None, NTF, b"later")
        .await
        .unwrap();
    assert_eq!(r.server.stored_notifications(), 1);
}
