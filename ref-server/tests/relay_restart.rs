//! A real restart of the SMP relay on its SQLite store, with the notification server
//! subscribed to it: the relay's task is aborted (which closes every connection), a new relay
//! is made from the same credentials and database file on the same port, and
//!
//! - the notification server's subscriber reconnects and resubscribes (`NSUB` succeeds, so
//!   the queue and its notifier credentials survived; the subscription is `ACTIVE` again);
//! - a message stored before the restart is still in the queue;
//! - a message sent after the restart is pushed, and the device decrypts it;
//! - a notification kept while the subscriber was away survives another restart and is
//!   delivered on the next `NSUB`.

mod common;
use common::{loopback_relay, new_subscription, verified_token, AppToken, Cut, Relay};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ntf_proto::command::NtfEntityId;
use ntf_proto::subscription::NtfSubStatus;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::{Device, DevicePush};
use ref_client::smp::{decrypt_nmsg, NotifierCreds, RecipientQueue, SmpClient, SmpClientConfig};
use ref_server::apns::mock::{MockApns, MockConfig};
use ref_server::apns::{ApnsClient, ApnsConfig, ApnsSigningKey, PushClients};
use ref_server::server::shell::{self, RunningServer, ShellConfig};
use ref_server::server::subscriber::SubscriberConfig;
use ref_server::smp::sqlite_store::DB_FILE;
use ref_server::smp::SmpRelayServer;
use ref_transport::{ServerCredentials, TlsServerConfig};
use smp_proto::command::SubscriptionMode;
use smp_proto::keys::AuthPrivateKey;
use smp_proto::message::{MsgFlags, RcvMsgBody};
use smp_proto::server::SmpServer;
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(15);

struct Env {
    relay_creds: ServerCredentials,
    db: PathBuf,
    _dir: tempfile::TempDir,
    relay: Option<Relay>,
    relay_addr: SocketAddr,
    cut: Cut,
    ntf: RunningServer,
    mock: MockApns,
}

async fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    let (_, relay_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let (relay, relay_addr) = Relay::start(&relay_creds, &db, "127.0.0.1:0".parse().unwrap()).await;
    let cut = Cut::new(relay_addr).await;

    let key = ApnsSigningKey::generate().unwrap();
    let mock = MockApns::start(MockConfig::default()).await.unwrap();
    let push = PushClients {
        test: Some(ApnsClient::new(mock.endpoint(), ApnsConfig::default(), key).unwrap()),
        ..PushClients::default()
    };
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let subscriber = SubscriberConfig {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..SubscriberConfig::default()
    };
    let config = ShellConfig {
        tls,
        versions: ntf_proto::version::SUPPORTED,
        push: Arc::new(push),
        subscriber: Some(subscriber),
        ops: Default::default(),
    };
    let ntf = shell::start(
        listener,
        config,
        ref_server::ntf::Config::default(),
        ref_server::ntf::MemStore::new(),
    )
    .unwrap();
    Env {
        relay_creds,
        db,
        _dir: dir,
        relay: Some(relay),
        relay_addr,
        cut,
        ntf,
        mock,
    }
}

/// The app: a queue with notifications enabled, a verified token and a subscription.
struct App {
    smp: SmpClient,
    ntf: NtfClient,
    queue: RecipientQueue,
    creds: NotifierCreds,
    key: AuthPrivateKey,
    token_text: String,
    device: Device,
    sub_id: NtfEntityId,
}

impl Env {
    fn relay(&self) -> &SmpRelayServer {
        &self.relay.as_ref().expect("the relay is running").server
    }

    /// The relay's address as the notification server reaches it (through the cut).
    fn relay_server(&self) -> SmpServer {
        loopback_relay(self.cut.addr.port(), self.relay().key_hash())
    }

    async fn smp_client(&self) -> SmpClient {
        SmpClient::connect_addr(
            self.relay_addr,
            &self.relay().key_hash(),
            &SmpClientConfig::default(),
        )
        .await
        .unwrap()
    }

    /// Stops the relay and starts a new one on the same credentials, database and port.
    async fn restart_relay(&mut self) {
        self.relay.take().expect("running").stop().await;
        // nothing listens on the port any more
        assert!(TcpStream::connect(self.relay_addr).await.is_err());
        let (relay, addr) = Relay::start(&self.relay_creds, &self.db, self.relay_addr).await;
        assert_eq!(addr, self.relay_addr);
        self.relay = Some(relay);
    }

    async fn app(&self) -> App {
        let smp = self.smp_client().await;
        // not subscribed: the app fetches with GET after a push
        let queue = smp
            .create_queue(SubscriptionMode::OnlyCreate, true)
            .await
            .unwrap();
        let creds = smp.enable_notifications(&queue).await.unwrap();

        let ntf = NtfClient::connect_addr(
            self.ntf.addr,
            &self.ntf.key_hash,
            &NtfClientConfig::default(),
        )
        .await
        .unwrap();
        let (AppToken { key, token_text, .. }, token_id, device) = verified_token(&ntf, &self.mock, WAIT).await;

        let sub = new_subscription(&token_id, self.relay_server(), &creds);
        let sub_id = ntf.snew(&key, sub).await.unwrap();
        let app = App {
            smp,
            ntf,
            queue,
            creds,
            key,
            token_text,
            device,
            sub_id,
        };
        app.wait_sub(NtfSubStatus::Active).await;
        app
    }
}

impl App {
    async fn wait_sub(&self, want: NtfSubStatus) {
        for _ in 0..300 {
            if self.ntf.schk(&self.key, &self.sub_id).await.unwrap() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "subscription never reached {want}: {}",
            self.ntf.schk(&self.key, &self.sub_id).await.unwrap()
        );
    }

    async fn send(&self, body: &[u8], notification: bool) {
        self.smp
            .send_message(&self.queue.snd_id, None, MsgFlags { notification }, body)
            .await
            .unwrap();
    }

    /// The next message in the queue (GET), checked and acknowledged; its id and timestamp.
    async fn receive(&self, body: &[u8]) -> (Vec<u8>, i64) {
        let (msg_id, msg) = self
            .smp
            .get_message(&self.queue)
            .await
            .unwrap()
            .expect("a message");
        let RcvMsgBody::Message {
            body: b, msg_ts, ..
        } = msg
        else {
            panic!("not a message: {msg:?}")
        };
        assert_eq!(b, body);
        self.smp.ack(&self.queue, &msg_id).await.unwrap();
        (msg_id, msg_ts)
    }

    /// Waits for the message push and checks it end to end: the list decrypts on the device,
    /// its item names our queue, its metadata decrypts to the id of the message the recipient
    /// then receives.
    async fn expect_notified(&self, env: &Env, body: &[u8]) {
        let push = tokio::time::timeout(WAIT, env.mock.next_push_for(&self.token_text))
            .await
            .expect("no message push");
        assert_eq!(push.header("apns-push-type"), Some("alert"));
        let DevicePush::Messages(list) = self.device.receive(&push.body).unwrap() else {
            panic!("not a message push")
        };
        let item = list.messages().last().unwrap().clone();
        assert_eq!(item.queue.notifier_id(), self.creds.notifier_id.as_slice());
        let meta =
            decrypt_nmsg(&self.creds.rcv_ntf_dh_secret, &item.nonce, item.enc_meta()).unwrap();
        let (msg_id, msg_ts) = self.receive(body).await;
        assert_eq!(meta.msg_id, msg_id, "the notification names the message");
        assert_eq!(meta.msg_ts, msg_ts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_restart_keeps_queues_and_notifications() {
    let mut env = start().await;
    let mut app = env.app().await;
    app.send(b"before restart", true).await;
    app.expect_notified(&env, b"before restart").await;
    // left in the queue over the restart
    app.send(b"kept in the queue", false).await;

    env.restart_relay().await;
    // the relay closed the app's connection
    let r = tokio::time::timeout(WAIT, app.smp.ping()).await;
    assert!(
        matches!(r, Ok(Err(_))),
        "the old connection still answers: {r:?}"
    );
    assert_eq!(env.relay().queue_count(), 1, "the queue was loaded");
    // the subscriber reconnects and its NSUB is accepted: the notifier credentials are back
    app.wait_sub(NtfSubStatus::Active).await;
    app.smp = env.smp_client().await;
    app.receive(b"kept in the queue").await;
    app.send(b"after restart", true).await;
    app.expect_notified(&env, b"after restart").await;

    // the subscriber is kept away: the notification is kept by the relay, in its database
    env.cut.cut();
    app.wait_sub(NtfSubStatus::Inactive).await;
    app.send(b"while the subscriber is away", true).await;
    assert_eq!(env.relay().stored_notifications(), 1);
    env.restart_relay().await;
    assert_eq!(
        env.relay().stored_notifications(),
        1,
        "the kept notification was loaded"
    );
    app.smp = env.smp_client().await;
    env.cut.restore(env.relay_addr).await;
    app.wait_sub(NtfSubStatus::Active).await;
    // delivered on NSUB
    app.expect_notified(&env, b"while the subscriber is away")
        .await;
    assert_eq!(env.relay().stored_notifications(), 0);

    env.ntf.shutdown().await;
    env.relay.take().expect("running").stop().await;
}
