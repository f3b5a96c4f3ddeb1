//! Service subscriptions end to end (SMP v16+, the reference's `subscribeServiceNtfs` and
//! `CAService*` events): the notification server connects to the relay as a notification
//! service with its own TLS credentials, its `NSUB`s associate the queues with the service,
//! and after a restart of either side one `NSUBS` subscribes them all again.
//!
//! - a relay restart and an NTF server restart on its SQLite store: `NSUBS` answered with the
//!   stored count confirms the service subscription, the subscription is reported ACTIVE again,
//!   and every later message is pushed exactly once;
//! - a store whose count of associated subscriptions differs from the relay's: the server falls
//!   back to one `NSUB` per queue, counts it, and never reports ACTIVE a subscription the relay
//!   does not hold;
//! - `SDEL` without the app's `NDEL`: the relay's larger count confirms (the reference's
//!   `CAServiceSubscribed`), with the service subscription gauges;
//! - `ENDS` when another session of the same service subscribes: counted, no status change.

mod common;
use common::{bind, fast_subscriber, loopback_relay, mock_push_clients, verified_token, new_subscription, AppToken, Relay};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ntf_proto::command::NtfEntityId;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::{Device, DevicePush};
use ref_client::smp::{NotifierCreds, RecipientQueue, SmpClient, SmpClientConfig};
use ref_server::apns::mock::{MockApns, MockConfig};
use ref_server::ntf::{ServerService, Store, SubscriptionRecord};
use ref_server::server::shell::{self, RunningServer, ShellConfig};
use ref_server::smp::sqlite_store::DB_FILE;
use ref_server::smp::SmpRelayServer;
use ref_server::store::SqliteStore;
use ref_transport::{random_array, ServerCredentials, SmpServiceCredentials, TlsServerConfig};
use smp_proto::command::SubscriptionMode;
use smp_proto::handshake::ServiceRole;
use smp_proto::keys::AuthPrivateKey;
use smp_proto::message::MsgFlags;
use smp_proto::server::SmpServer;

const WAIT: Duration = Duration::from_secs(15);

struct Env {
    dir: tempfile::TempDir,
    relay_creds: ServerCredentials,
    relay: Option<Relay>,
    relay_addr: SocketAddr,
    /// The notification server's credentials: its TLS and its service certificate.
    ntf_creds: ServerCredentials,
    ntf: Option<RunningServer>,
    ntf_addr: SocketAddr,
    mock: MockApns,
}

impl Env {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (_, relay_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
        let (relay, relay_addr) =
            Relay::start(&relay_creds, &dir.path().join(DB_FILE), "127.0.0.1:0".parse().unwrap()).await;
        let (_ca, ntf_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
        let mock = MockApns::start(MockConfig::default()).await.unwrap();
        let mut env = Self {
            dir,
            relay_creds,
            relay: Some(relay),
            relay_addr,
            ntf_creds,
            ntf: None,
            ntf_addr: "127.0.0.1:0".parse().unwrap(),
            mock,
        };
        env.start_ntf().await;
        env
    }

    fn ntf_db(&self) -> PathBuf {
        self.dir.path().join("ntf-store.db")
    }

    /// Starts the notification server on its SQLite store, as a service client.
    async fn start_ntf(&mut self) {
        let push = mock_push_clients(&self.mock);
        let mut subscriber = fast_subscriber();
        subscriber.client.service = Some(SmpServiceCredentials::new(ServiceRole::Notifier, &self.ntf_creds).unwrap());
        let config = ShellConfig {
            tls: TlsServerConfig::new(&self.ntf_creds, &[b"ntf/1"]).unwrap(),
            versions: ntf_proto::version::SUPPORTED,
            push: Arc::new(push),
            subscriber: Some(subscriber),
            ops: Default::default(),
        };
        let listener = bind(self.ntf_addr).await;
        self.ntf_addr = listener.local_addr().unwrap();
        let store = SqliteStore::open(self.ntf_db()).unwrap();
        self.ntf = Some(shell::start(listener, config, ref_server::ntf::Config::default(), store).unwrap());
    }

    async fn stop_ntf(&mut self) {
        self.ntf.take().expect("running").shutdown().await;
    }

    fn ntf(&self) -> &RunningServer {
        self.ntf.as_ref().expect("running")
    }

    fn relay(&self) -> &SmpRelayServer {
        &self.relay.as_ref().expect("running").server
    }

    fn relay_server(&self) -> SmpServer {
        loopback_relay(self.relay_addr.port(), self.relay().key_hash())
    }

    async fn restart_relay(&mut self) {
        self.relay.take().expect("running").stop().await;
        let (relay, addr) = Relay::start(&self.relay_creds, &self.dir.path().join(DB_FILE), self.relay_addr).await;
        assert_eq!(addr, self.relay_addr);
        self.relay = Some(relay);
    }

    async fn smp_client(&self, config: &SmpClientConfig) -> SmpClient {
        SmpClient::connect_addr(self.relay_addr, &self.relay().key_hash(), config).await.unwrap()
    }

    /// A second connection to the store the server uses (WAL: reads see its commits).
    fn store(&self) -> SqliteStore {
        SqliteStore::open(self.ntf_db()).unwrap()
    }

    async fn until(&self, what: &str, mut f: impl FnMut(&Self) -> bool) {
        for _ in 0..300 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never: {what}; service stats {:?}", self.ntf().service_stats());
    }

    async fn app(&self) -> App {
        let smp = self.smp_client(&SmpClientConfig::default()).await;
        let queue = smp.create_queue(SubscriptionMode::OnlyCreate, true).await.unwrap();
        let creds = smp.enable_notifications(&queue).await.unwrap();
        let ntf = NtfClient::connect_addr(self.ntf_addr, &self.ntf().key_hash, &NtfClientConfig::default()).await.unwrap();
        let (AppToken { key, token_text, .. }, token_id, device) = verified_token(&ntf, &self.mock, WAIT).await;
        let sub = new_subscription(&token_id, self.relay_server(), &creds);
        let sub_id = ntf.snew(&key, sub).await.unwrap();
        let app = App { smp, ntf, queue, creds, key, token_text, device, sub_id, token_id };
        app.wait_sub(NtfSubStatus::Active).await;
        app
    }
}

struct App {
    smp: SmpClient,
    ntf: NtfClient,
    queue: RecipientQueue,
    creds: NotifierCreds,
    key: AuthPrivateKey,
    token_text: String,
    device: Device,
    sub_id: NtfEntityId,
    token_id: NtfEntityId,
}

impl App {
    async fn schk(&self) -> NtfSubStatus {
        self.ntf.schk(&self.key, &self.sub_id).await.unwrap()
    }

    async fn wait_sub(&self, want: NtfSubStatus) {
        for _ in 0..300 {
            if self.schk().await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("subscription never reached {want}: {}", self.schk().await);
    }

    /// Reconnects the app's NTF and SMP connections (after a restart of a server).
    async fn reconnect(&mut self, env: &Env) {
        self.ntf = NtfClient::connect_addr(env.ntf_addr, &env.ntf().key_hash, &NtfClientConfig::default()).await.unwrap();
        self.smp = env.smp_client(&SmpClientConfig::default()).await;
    }

    /// Sends a message and checks it is pushed exactly once: the push decrypts on the device
    /// and names our queue, and no second push follows.
    async fn send_pushed_once(&self, env: &Env, body: &[u8]) {
        self.smp.send_message(&self.queue.snd_id, None, MsgFlags { notification: true }, body).await.unwrap();
        let push = tokio::time::timeout(WAIT, env.mock.next_push_for(&self.token_text)).await.expect("no message push");
        let DevicePush::Messages(list) = self.device.receive(&push.body).unwrap() else {
            panic!("not a message push")
        };
        assert_eq!(list.messages().last().unwrap().queue.notifier_id(), self.creds.notifier_id.as_slice());
        let (msg_id, _) = self.smp.get_message(&self.queue).await.unwrap().expect("a message");
        self.smp.ack(&self.queue, &msg_id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(env.mock.try_next_push().is_none(), "pushed twice: {body:?}");
    }
}

/// The stored association of the relay, read on a second connection.
fn stored_service(env: &Env) -> Option<ServerService> {
    env.store().server_service(&env.relay_server()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_subscription_survives_relay_and_ntf_server_restarts() {
    let mut env = Env::start().await;
    let mut app = env.app().await;
    // NSUB on the service session associated the queue (SOK with the service id)
    let svc = stored_service(&env).expect("a service id stored");
    assert_eq!(svc.count, 1);
    let sub = env.store().get_subscription(&app.sub_id).unwrap().unwrap().1;
    assert!(sub.service_assoc);
    app.send_pushed_once(&env, b"first").await;

    // relay restart: the subscriber reconnects and sends NSUBS, SOKS 1 confirms it
    env.restart_relay().await;
    env.until("NSUBS confirmed after the relay restart", |e| e.ntf().service_stats().subscribed >= 1).await;
    app.reconnect(&env).await;
    app.wait_sub(NtfSubStatus::Active).await;
    app.send_pushed_once(&env, b"after the relay restart").await;

    // NTF server restart on its store: one NSUBS, not one NSUB per queue
    env.stop_ntf().await;
    env.start_ntf().await;
    env.until("NSUBS confirmed after the NTF server restart", |e| e.ntf().service_stats().subscribed == 1).await;
    app.reconnect(&env).await;
    app.wait_sub(NtfSubStatus::Active).await;
    let st = env.ntf().service_stats();
    assert_eq!((st.count_mismatches, st.unavailable, st.subscribed_subs), (0, 0, 1), "{st:?}");
    assert_eq!(stored_service(&env), Some(svc));
    app.send_pushed_once(&env, b"after the NTF server restart").await;
    env.stop_ntf().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soks_count_unlike_the_store_falls_back_to_one_nsub_per_queue() {
    let mut env = Env::start().await;
    let mut app = env.app().await;
    let svc = stored_service(&env).expect("a service id stored");
    env.stop_ntf().await;
    // the store claims a second associated subscription, for a queue the relay does not have
    let mut store = env.store();
    let mut ghost = store.get_subscription(&app.sub_id).unwrap().unwrap().1;
    ghost.id = NtfEntityId::new(random_array::<24>().unwrap().to_vec()).unwrap();
    ghost.queue = SmpQueueNtf::new(env.relay_server(), random_array::<24>().unwrap().to_vec()).unwrap();
    ghost.service_assoc = true;
    ghost.token_id = app.token_id.clone();
    let ghost_id = ghost.id.clone();
    store.import_subscriptions(&[SubscriptionRecord { ..ghost }]).unwrap();
    assert_eq!(stored_service(&env).map(|s| s.count), Some(2));
    drop(store);

    env.start_ntf().await;
    // SOKS 1 against 2 in the store: association removed, each queue subscribed again
    env.until("the count mismatch", |e| e.ntf().service_stats().count_mismatches == 1).await;
    app.reconnect(&env).await;
    app.wait_sub(NtfSubStatus::Active).await;
    let ghost_status = app.ntf.schk(&app.key, &ghost_id).await.unwrap();
    // the relay does not hold it: never ACTIVE (the relay answers AUTH to its NSUB)
    for _ in 0..100 {
        if app.ntf.schk(&app.key, &ghost_id).await.unwrap() == NtfSubStatus::Auth {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(ghost_status, NtfSubStatus::Active);
    assert_eq!(app.ntf.schk(&app.key, &ghost_id).await.unwrap(), NtfSubStatus::Auth);
    // the real one is associated again by its service-signed NSUB
    env.until("associated again", |e| stored_service(e).is_some_and(|s| s.count == 1)).await;
    assert_eq!(stored_service(&env).unwrap().service_id, svc.service_id);
    assert_eq!(env.ntf().service_stats().subscribed, 0);
    app.send_pushed_once(&env, b"after the fallback").await;

    // and the next start agrees again
    env.stop_ntf().await;
    env.start_ntf().await;
    env.until("NSUBS confirmed", |e| e.ntf().service_stats().subscribed == 1).await;
    app.reconnect(&env).await;
    app.send_pushed_once(&env, b"after the next start").await;
    env.stop_ntf().await;
}

/// A gauge of the server's metrics text.
fn gauge(env: &Env, series: &str) -> Option<i64> {
    let text = env.ntf().metrics().encode();
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `SDEL` deletes the subscription here, but only the app's `NDEL` removes the queue's
/// association at the relay: after a restart `SOKS` counts one more than the store. As the
/// reference's `CAServiceSubscribed`, that count is confirmed (counted), not a fallback to one
/// `NSUB` per queue at every start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdel_without_ndel_gives_a_larger_soks_count_which_confirms() {
    let mut env = Env::start().await;
    let mut app = env.app().await;
    let gone = env.app().await;
    assert_eq!(stored_service(&env).map(|s| s.count), Some(2));
    gone.ntf.sdel(&gone.key, &gone.sub_id).await.unwrap();
    assert_eq!(stored_service(&env).map(|s| s.count), Some(1));
    for restart in 0..2 {
        env.stop_ntf().await;
        env.start_ntf().await;
        env.until("NSUBS confirmed", |e| e.ntf().service_stats().subscribed == 1).await;
        let st = env.ntf().service_stats();
        assert_eq!((st.count_larger, st.count_mismatches, st.unavailable, st.subscribed_subs), (1, 0, 0, 1), "restart {restart}: {st:?}");
        // the service subscription's gauges: the relay's count, nothing pending
        assert_eq!(gauge(&env, "simplex_ntf_smp_service_subscription_active_sub_count_other"), Some(2));
        assert_eq!(gauge(&env, "simplex_ntf_smp_service_subscription_active_server_count_other"), Some(1));
        assert_eq!(gauge(&env, "simplex_ntf_smp_service_subscription_pending_sub_count_other"), Some(0));
        assert_eq!(gauge(&env, "simplex_ntf_smp_subscription_active_sub_count_other"), Some(0));
        app.reconnect(&env).await;
        app.wait_sub(NtfSubStatus::Active).await;
        assert_eq!(stored_service(&env).map(|s| s.count), Some(1));
        app.send_pushed_once(&env, b"after the restart").await;
        // the deleted subscription's queue still notifies the service: nothing is pushed
        gone.smp.send_message(&gone.queue.snd_id, None, MsgFlags { notification: true }, b"deleted").await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(env.mock.try_next_push().is_none(), "a push for a deleted subscription");
    }
    env.stop_ntf().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_from_another_session_of_the_service_is_counted_without_status_change() {
    let mut env = Env::start().await;
    let mut app = env.app().await;
    // another session with the same service certificate takes the service subscription
    let config = SmpClientConfig {
        service: Some(SmpServiceCredentials::new(ServiceRole::Notifier, &env.ntf_creds).unwrap()),
        ..SmpClientConfig::default()
    };
    let other = env.smp_client(&config).await;
    assert_eq!(other.subscribe_service_notifications().await.unwrap(), 1);
    env.until("ENDS counted", |e| e.ntf().service_stats().ended == 1).await;
    assert_eq!(app.schk().await, NtfSubStatus::Active);
    assert_eq!(stored_service(&env).map(|s| s.count), Some(1));
    // the relay now notifies the other session
    app.smp.send_message(&app.queue.snd_id, None, MsgFlags { notification: true }, b"to the other").await.unwrap();
    let ev = tokio::time::timeout(WAIT, other.next_event()).await.unwrap().unwrap();
    assert!(matches!(ev.msg, Ok(smp_proto::broker::BrokerMsg::Nmsg { .. })), "{ev:?}");
    let (msg_id, _) = app.smp.get_message(&app.queue).await.unwrap().expect("a message");
    app.smp.ack(&app.queue, &msg_id).await.unwrap();
    drop(other);
    // a relay restart: the server's NSUBS takes the service subscription back
    env.restart_relay().await;
    env.until("NSUBS confirmed", |e| e.ntf().service_stats().subscribed >= 1).await;
    app.reconnect(&env).await;
    app.send_pushed_once(&env, b"back to the server").await;
    env.stop_ntf().await;
}
