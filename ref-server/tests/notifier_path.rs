//! The whole notification path over real TLS on loopback: a recipient creates a queue on the
//! SMP relay and enables notifications (`NKEY` -> `NID`), registers a token with the
//! notification server and subscribes the queue (`SNEW`); the server's SMP subscriber sends
//! `NSUB`; a sender's `SEND` makes the relay send `NMSG`; the server pushes it to the mock APNS;
//! the device decrypts the list and the metadata, and the recipient fetches the message.
//!
//! Both servers have Ed448 credentials, the reference's default: every client here (the app's
//! SMP and NTF clients, the notification server's SMP subscriber) verifies Ed448-signed session
//! keys. The other server tests use Ed25519.

mod common;
use common::{check_message_push, fast_subscriber, loopback_relay, mock_push_clients, verified_token, new_subscription, AppToken, Cut};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ntf_proto::command::NtfEntityId;
use ntf_proto::subscription::NtfSubStatus;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::Device;
use ref_client::smp::{NotifierCreds, RecipientQueue, SmpClient, SmpClientConfig};
use ref_server::apns::mock::{MockApns, MockConfig};
use ref_server::server::shell::{self, RunningServer, ShellConfig};
use ref_server::smp::core::RelayConfig;
use ref_server::smp::server::SmpRelayServer;
use ref_transport::{ServerCredentials, SignAlgorithm, TlsServerConfig};
use smp_proto::command::SubscriptionMode;
use smp_proto::keys::AuthPrivateKey;
use smp_proto::message::{MsgFlags, RcvMsgBody};
use smp_proto::server::SmpServer;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(15);

struct Env {
    relay: SmpRelayServer,
    relay_addr: SocketAddr,
    cut: Cut,
    ntf: RunningServer,
    mock: MockApns,
}

async fn start() -> Env {
    let (_, relay_creds) = ServerCredentials::generate_with("127.0.0.1", SignAlgorithm::Ed448).unwrap();
    let relay = SmpRelayServer::new(&relay_creds, RelayConfig::default()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = l.local_addr().unwrap();
    tokio::spawn(relay.clone().run(l));
    let cut = Cut::new(relay_addr).await;

    let mock = MockApns::start(MockConfig::default()).await.unwrap();
    let push = mock_push_clients(&mock);
    let (_ca, creds) = ServerCredentials::generate_with("127.0.0.1", SignAlgorithm::Ed448).unwrap();
    let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(push), subscriber: Some(fast_subscriber()), ops: Default::default() };
    let ntf = shell::start(listener, config, ref_server::ntf::Config::default(), ref_server::ntf::MemStore::new()).unwrap();
    Env { relay, relay_addr, cut, ntf, mock }
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
    /// The relay's address as the notification server reaches it (through the cut).
    fn relay_server(&self) -> SmpServer {
        loopback_relay(self.cut.addr.port(), self.relay.key_hash())
    }

    async fn app(&self) -> App {
        let smp = SmpClient::connect_addr(self.relay_addr, &self.relay.key_hash(), &SmpClientConfig::default()).await.unwrap();
        // not subscribed: the app fetches with GET after a push, as the iOS notification extension does
        let queue = smp.create_queue(SubscriptionMode::OnlyCreate, true).await.unwrap();
        let creds = smp.enable_notifications(&queue).await.unwrap();

        let ntf = NtfClient::connect_addr(self.ntf.addr, &self.ntf.key_hash, &NtfClientConfig::default()).await.unwrap();
        let (AppToken { key, token_text, .. }, token_id, device) = verified_token(&ntf, &self.mock, WAIT).await;

        let sub = new_subscription(&token_id, self.relay_server(), &creds);
        let sub_id = ntf.snew(&key, sub).await.unwrap();
        let app = App { smp, ntf, queue, creds, key, token_text, device, sub_id };
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
        panic!("subscription never reached {want}: {}", self.ntf.schk(&self.key, &self.sub_id).await.unwrap());
    }

    async fn send(&self, body: &[u8], notification: bool) {
        self.smp.send_message(&self.queue.snd_id, None, MsgFlags { notification }, body).await.unwrap();
    }

    /// Waits for the message push and checks it end to end: the list decrypts on the device,
    /// its item names our queue, its metadata decrypts to the id of the message the recipient
    /// then receives.
    async fn expect_notified(&self, env: &Env, body: &[u8]) {
        let push = tokio::time::timeout(WAIT, env.mock.next_push_for(&self.token_text)).await.expect("no message push");
        assert_eq!(push.header("apns-push-type"), Some("alert"));
        let (meta, msg) = check_message_push(&push, &self.device, &self.creds, &self.smp, &self.queue).await;
        match msg {
            RcvMsgBody::Message { body: b, msg_ts, .. } => {
                assert_eq!(b, body);
                assert_eq!(msg_ts, meta.msg_ts);
            }
            other => panic!("{other:?}"),
        }
    }

    async fn expect_no_push(&self, env: &Env) {
        tokio::time::sleep(Duration::from_millis(700)).await;
        while let Some(p) = env.mock.try_next_push() {
            assert_ne!(p.token, self.token_text, "unexpected push");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_with_notification_flag_is_pushed_and_decrypted() {
    let env = start().await;
    let app = env.app().await;
    app.send(b"hello", true).await;
    app.expect_notified(&env, b"hello").await;
    // a message without the notification flag sends no push
    app.send(b"quiet", false).await;
    app.expect_no_push(&env).await;
    let (id, _) = app.smp.get_message(&app.queue).await.unwrap().expect("the quiet message");
    app.smp.ack(&app.queue, &id).await.unwrap();
    env.ntf.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_cut_then_resubscribed_and_notified() {
    let mut env = start().await;
    let app = env.app().await;
    env.cut.cut();
    // the subscriber notices (ping or closed connection) and reports INACTIVE
    app.wait_sub(NtfSubStatus::Inactive).await;
    // a message sent meanwhile is kept by the relay and delivered on NSUB
    app.send(b"while cut", true).await;
    env.cut.restore(env.relay_addr).await;
    app.wait_sub(NtfSubStatus::Active).await;
    app.expect_notified(&env, b"while cut").await;
    app.send(b"after", true).await;
    app.expect_notified(&env, b"after").await;
    env.ntf.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_queue_reports_deleted() {
    let env = start().await;
    let app = env.app().await;
    app.smp.delete_queue(&app.queue).await.unwrap();
    app.wait_sub(NtfSubStatus::Deleted).await;
    env.ntf.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndel_stops_notifications() {
    let env = start().await;
    let app = env.app().await;
    app.smp.disable_notifications(&app.queue).await.unwrap();
    app.send(b"after NDEL", true).await;
    app.expect_no_push(&env).await;
    env.ntf.shutdown().await;
}
