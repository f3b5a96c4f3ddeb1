//! Three notification server instances on one PostgreSQL database (`NTF_TEST_PG_URL`; SKIPPED
//! without it) and one SMP relay, all on loopback: apps spread over the instances, the relay
//! owned by one instance through its lease (`server::lease`), the owner stopped, its relay taken
//! over by another instance, and every message pushed exactly once.

mod common;
use common::{check_message_push, fast_subscriber, loopback_relay, mock_push_clients, verification_code, AppToken};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntf_proto::command::{NewNtfSubscription, NtfEntityId};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::Device;
use ref_client::smp::{NotifierCreds, RecipientQueue, SmpClient, SmpClientConfig};
use ref_server::apns::mock::{MockApns, MockConfig, MockPush};
use ref_server::server::lease::{LeaseConfig, ScaleOut};
use ref_server::server::shell::{self, RunningServer, ShellConfig, ShellOps};
use ref_server::smp::core::RelayConfig;
use ref_server::smp::server::SmpRelayServer;
use ref_server::store::{PgConfig, PgStore};
use ref_transport::{ServerCredentials, SignAlgorithm, TlsServerConfig};
use smp_proto::command::SubscriptionMode;
use smp_proto::keys::AuthPrivateKey;
use smp_proto::message::{MsgFlags, RcvMsgBody};
use smp_proto::server::SmpServer;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(20);

struct Env {
    relay: SmpRelayServer,
    relay_addr: SocketAddr,
    mock: MockApns,
    pg: PgConfig,
    instances: Vec<Option<RunningServer>>,
    /// Pushes taken from the mock, by device token.
    pushes: HashMap<String, Vec<MockPush>>,
}

fn lease_config(id: &str) -> LeaseConfig {
    LeaseConfig { ttl: Duration::from_secs(3), renew: Duration::from_millis(500), ..LeaseConfig::new(id) }
}

async fn open(pg: &PgConfig) -> PgStore {
    let pg = pg.clone();
    tokio::task::spawn_blocking(move || PgStore::open(pg).unwrap()).await.unwrap()
}

async fn start(url: String, n: usize) -> Env {
    let (_, relay_creds) = ServerCredentials::generate_with("127.0.0.1", SignAlgorithm::Ed25519).unwrap();
    let relay = SmpRelayServer::new(&relay_creds, RelayConfig::default()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = l.local_addr().unwrap();
    tokio::spawn(relay.clone().run(l));
    let mock = MockApns::start(MockConfig::default()).await.unwrap();
    // one identity for all instances, as behind one address
    let (_ca, creds) = ServerCredentials::generate_with("127.0.0.1", SignAlgorithm::Ed25519).unwrap();
    let pg = PgConfig::new(url).with_schema(format!("ntf_scale_test_{}", std::process::id()));
    let mut instances = Vec::new();
    for i in 0..n {
        let push = mock_push_clients(&mock);
        let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scale = ScaleOut { config: lease_config(&format!("i{i}")), store: Arc::new(open(&pg).await) };
        let ops = ShellOps { scale_out: Some(scale), ..ShellOps::default() };
        let config = ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(push), subscriber: Some(fast_subscriber()), ops };
        let store = open(&pg).await;
        instances.push(Some(shell::start(listener, config, ref_server::ntf::Config::default(), store).unwrap()));
    }
    Env { relay, relay_addr, mock, pg, instances, pushes: HashMap::new() }
}

struct App {
    smp: SmpClient,
    /// Connections to every instance (the app uses `home`, checks through the others).
    ntf: Vec<NtfClient>,
    queue: RecipientQueue,
    creds: NotifierCreds,
    key: AuthPrivateKey,
    token_text: String,
    device: Device,
    sub_id: NtfEntityId,
}

impl Env {
    fn relay_server(&self) -> SmpServer {
        loopback_relay(self.relay_addr.port(), self.relay.key_hash())
    }

    fn live(&self) -> Vec<usize> {
        (0..self.instances.len()).filter(|i| self.instances[*i].is_some()).collect()
    }

    /// The next push for `token`, keeping any other token's pushes for later.
    async fn push_for(&mut self, token: &str) -> MockPush {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(v) = self.pushes.get_mut(token) {
                if !v.is_empty() {
                    return v.remove(0);
                }
            }
            let left = end.saturating_duration_since(Instant::now());
            let p = tokio::time::timeout(left, self.mock.next_push()).await.expect("no push in time");
            self.pushes.entry(p.token.clone()).or_default().push(p);
        }
    }

    /// Pushes that arrived for `token` beyond those taken.
    async fn extra_pushes(&mut self, token: &str) -> usize {
        tokio::time::sleep(Duration::from_millis(800)).await;
        while let Some(p) = self.mock.try_next_push() {
            self.pushes.entry(p.token.clone()).or_default().push(p);
        }
        self.pushes.get(token).map_or(0, Vec::len)
    }

    /// An app registered and subscribed through instance `home`.
    async fn app(&mut self, home: usize) -> App {
        let smp = SmpClient::connect_addr(self.relay_addr, &self.relay.key_hash(), &SmpClientConfig::default()).await.unwrap();
        let queue = smp.create_queue(SubscriptionMode::OnlyCreate, true).await.unwrap();
        let creds = smp.enable_notifications(&queue).await.unwrap();
        let mut ntf = Vec::new();
        for i in self.live() {
            let s = self.instances[i].as_ref().unwrap();
            ntf.push(NtfClient::connect_addr(s.addr, &s.key_hash, &NtfClientConfig::default()).await.unwrap());
        }
        let t = AppToken::generate();
        let (token_id, server_dh) = ntf[home].tnew(&t.key, t.new_token.clone()).await.unwrap();
        let device = t.device(&server_dh);
        let push = self.push_for(&t.token_text).await;
        // verified through another instance
        let other = (home + 1) % ntf.len();
        ntf[other].tvfy(&t.key, &token_id, verification_code(&device, &push)).await.unwrap();
        let AppToken { key, token_text, .. } = t;
        let sub = NewNtfSubscription {
            token_id: token_id.clone(),
            queue: SmpQueueNtf::new(self.relay_server(), creds.notifier_id.clone()).unwrap(),
            notifier_key: creds.notifier_key.private.clone(),
        };
        let sub_id = ntf[home].snew(&key, sub).await.unwrap();
        let app = App { smp, ntf, queue, creds, key, token_text, device, sub_id };
        app.wait_active(other).await;
        assert_eq!(self.extra_pushes(&app.token_text).await, 0, "one verification push");
        app
    }

    async fn owner(&self) -> Option<String> {
        let (url, schema) = (self.pg.url.clone(), self.pg.schema.clone());
        tokio::task::spawn_blocking(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let q = format!("SELECT owner FROM \"{schema}\".ntf_leases WHERE resource LIKE 'relay %' AND expires_at > now()");
            c.query_opt(&q, &[]).unwrap().map(|r| r.get::<_, String>(0))
        })
        .await
        .unwrap()
    }

    async fn expect_notified(&mut self, app: &App, body: &[u8]) {
        let push = self.push_for(&app.token_text).await;
        let (_, msg) = check_message_push(&push, &app.device, &app.creds, &app.smp, &app.queue).await;
        let RcvMsgBody::Message { body: b, .. } = msg else { panic!("{msg:?}") };
        assert!(b.starts_with(body), "{b:?} is not a {body:?} message");
    }
}

impl App {
    /// Waits for ACTIVE, asking instance `via`.
    async fn wait_active(&self, via: usize) {
        let end = Instant::now() + WAIT;
        loop {
            let st = self.ntf[via].schk(&self.key, &self.sub_id).await.unwrap();
            if st == NtfSubStatus::Active {
                return;
            }
            assert!(Instant::now() < end, "subscription not ACTIVE: {st}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn send(&self, body: &[u8]) {
        self.smp.send_message(&self.queue.snd_id, None, MsgFlags { notification: true }, body).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_the_relays_and_take_over_a_stopped_owner() {
    let Ok(url) = std::env::var("NTF_TEST_PG_URL") else {
        eprintln!("SKIPPED three_instances_share_the_relays_and_take_over_a_stopped_owner: NTF_TEST_PG_URL is not set");
        return;
    };
    let mut env = start(url, 3).await;
    // one app registered through each instance; SNEW on a non-owner reaches the owner
    let mut apps = Vec::new();
    for home in 0..3 {
        apps.push(env.app(home).await);
    }
    let owner = env.owner().await.expect("an owner");
    let owner_ix: usize = owner.trim_start_matches('i').parse().unwrap();
    for (i, app) in apps.iter().enumerate() {
        app.send(format!("before {i}").as_bytes()).await;
    }
    for app in &apps {
        env.expect_notified(app, b"before").await;
    }
    for app in &apps {
        assert_eq!(env.extra_pushes(&app.token_text).await, 0, "pushed once");
    }

    // the owner stops without giving up its lease (its relay connection closes)
    let stopped = Instant::now();
    env.instances[owner_ix].take().unwrap().shutdown().await;
    // sent while no instance is subscribed: the relay keeps it for the next NSUB
    apps[0].send(b"during").await;
    // pushed once another instance took the relay over and subscribed its queues again
    env.expect_notified(&apps[0], b"during").await;
    let took = stopped.elapsed();
    let new_owner = env.owner().await.expect("a new owner");
    assert_ne!(new_owner, owner);
    eprintln!("takeover: {owner} -> {new_owner}, the message sent meanwhile pushed {took:?} after the stop");
    let via = (owner_ix + 1) % 3;
    for app in &apps {
        app.wait_active(via).await;
    }
    for (i, app) in apps.iter().enumerate() {
        app.send(format!("after {i}").as_bytes()).await;
    }
    for app in &apps {
        env.expect_notified(app, b"after").await;
    }
    for app in &apps {
        assert_eq!(env.extra_pushes(&app.token_text).await, 0, "pushed once after the takeover");
    }

    for s in env.instances.iter_mut() {
        if let Some(s) = s.take() {
            s.shutdown().await;
        }
    }
    let pg = env.pg.clone();
    tokio::task::spawn_blocking(move || PgStore::open(pg).unwrap().drop_schema().unwrap()).await.unwrap();
}
