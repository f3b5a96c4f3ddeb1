//! Three notification server instances on one PostgreSQL database (`NTF_TEST_PG_URL`; SKIPPED
//! without it) and one SMP relay, all on loopback: apps spread over the instances, the relay
//! owned by one instance through its lease (`server::lease`), the owner stopped, its relay taken
//! over by another instance, and every message pushed exactly once; and an owner cut from the
//! database (a TCP proxy between it and PostgreSQL), which stops acting before another
//! instance takes its relay over.

mod common;
use common::{check_message_push, fast_subscriber, loopback_relay, mock_push_clients, verification_code, new_subscription, AppToken, Cut};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ref_server::store::journal::NewNmsg;
use ntf_proto::command::NtfEntityId;
use ntf_proto::subscription::NtfSubStatus;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::{Device, DevicePush};
use ref_client::smp::{decrypt_nmsg, NotifierCreds, RecipientQueue, SmpClient, SmpClientConfig};
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
    lease: LeaseConfig,
    /// The identity all instances share, as behind one address.
    creds: ServerCredentials,
    instances: Vec<Option<RunningServer>>,
    /// Pushes taken from the mock, by device token.
    pushes: HashMap<String, Vec<MockPush>>,
}

/// The tests of this file run one at a time (each runs three instances).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn open(pg: &PgConfig) -> PgStore {
    let pg = pg.clone();
    tokio::task::spawn_blocking(move || PgStore::open(pg).unwrap()).await.unwrap()
}

/// The relay, the mock APNS and no instance yet; the schema is `ntf_scale_test_<pid>_<test>`.
async fn start(url: String, test: &str, lease: LeaseConfig) -> Env {
    let (_, relay_creds) = ServerCredentials::generate_with("127.0.0.1", SignAlgorithm::Ed25519).unwrap();
    let relay = SmpRelayServer::new(&relay_creds, RelayConfig::default()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = l.local_addr().unwrap();
    tokio::spawn(relay.clone().run(l));
    let mock = MockApns::start(MockConfig::default()).await.unwrap();
    let (_ca, creds) = ServerCredentials::generate_with("127.0.0.1", SignAlgorithm::Ed25519).unwrap();
    let pg = PgConfig::new(url).with_schema(format!("ntf_scale_test_{}_{test}", std::process::id()));
    Env { relay, relay_addr, mock, pg, lease, creds, instances: Vec::new(), pushes: HashMap::new() }
}

impl Env {
    /// Starts instance `i{n}` (n: the next index) on `pg` (the shared database, or the same
    /// database through a proxy).
    async fn add_instance(&mut self, pg: &PgConfig) {
        let id = format!("i{}", self.instances.len());
        let push = mock_push_clients(&self.mock);
        let tls = TlsServerConfig::new(&self.creds, &[b"ntf/1"]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scale = ScaleOut { config: LeaseConfig { instance_id: id, ..self.lease.clone() }, store: Arc::new(open(pg).await) };
        let ops = ShellOps { scale_out: Some(scale), ..ShellOps::default() };
        let config = ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(push), subscriber: Some(fast_subscriber()), ops };
        let store = open(pg).await;
        self.instances.push(Some(shell::start(listener, config, ref_server::ntf::Config::default(), store).unwrap()));
    }

    async fn stop_all_and_drop_schema(mut self) {
        for s in self.instances.iter_mut() {
            if let Some(s) = s.take() {
                s.shutdown().await;
            }
        }
        let pg = self.pg.clone();
        tokio::task::spawn_blocking(move || PgStore::open(pg).unwrap().drop_schema().unwrap()).await.unwrap();
    }
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

    /// A connection to every live instance.
    async fn connect_all(&self) -> Vec<NtfClient> {
        let mut ntf = Vec::new();
        for i in self.live() {
            let s = self.instances[i].as_ref().unwrap();
            ntf.push(NtfClient::connect_addr(s.addr, &s.key_hash, &NtfClientConfig::default()).await.unwrap());
        }
        ntf
    }

    /// An app registered and subscribed through instance `home`.
    async fn app(&mut self, home: usize) -> App {
        let smp = SmpClient::connect_addr(self.relay_addr, &self.relay.key_hash(), &SmpClientConfig::default()).await.unwrap();
        let queue = smp.create_queue(SubscriptionMode::OnlyCreate, true).await.unwrap();
        let creds = smp.enable_notifications(&queue).await.unwrap();
        let ntf = self.connect_all().await;
        let t = AppToken::generate();
        let (token_id, server_dh) = ntf[home].tnew(&t.key, t.new_token.clone()).await.unwrap();
        let device = t.device(&server_dh);
        let push = self.push_for(&t.token_text).await;
        // verified through another instance
        let other = (home + 1) % ntf.len();
        ntf[other].tvfy(&t.key, &token_id, verification_code(&device, &push)).await.unwrap();
        let AppToken { key, token_text, .. } = t;
        let sub = new_subscription(&token_id, self.relay_server(), &creds);
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
async fn three_instances_share_the_relays_and_take_over_from_an_owner_that_stops() {
    let Ok(url) = std::env::var("NTF_TEST_PG_URL") else {
        eprintln!("SKIPPED three_instances_share_the_relays_and_take_over_from_an_owner_that_stops: NTF_TEST_PG_URL is not set");
        return;
    };
    let _serial = SERIAL.lock().await;
    // a lease that would hold longer than the test waits: the relay moves in time only
    // because the stopping owner gives its leases up
    let lease = LeaseConfig { ttl: Duration::from_secs(60), renew: Duration::from_millis(500), ..LeaseConfig::new("-") };
    let mut env = start(url, "stop", lease).await;
    let pg = env.pg.clone();
    for _ in 0..3 {
        env.add_instance(&pg).await;
    }
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

    // the owner stops: its relay connection closes, then it gives its leases up
    let stopped = Instant::now();
    env.instances[owner_ix].take().unwrap().shutdown().await;
    // sent while no instance is subscribed: the relay keeps it for the next NSUB
    apps[0].send(b"during").await;
    // pushed once another instance took the relay over and subscribed its queues again
    env.expect_notified(&apps[0], b"during").await;
    let took = stopped.elapsed();
    let new_owner = env.owner().await.expect("a new owner");
    assert_ne!(new_owner, owner);
    eprintln!("takeover: {owner} -> {new_owner}, the message sent meanwhile pushed {took:?} after the stop began (lease_ttl 60 s)");
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
    env.stop_all_and_drop_schema().await;
}

/// `NTF_TEST_PG_URL` with its host and port replaced by `to` (None: not a TCP address).
fn url_via(url: &str, to: SocketAddr) -> Option<String> {
    let c: postgres::Config = url.parse().ok()?;
    let host = match c.get_hosts().first()? {
        postgres::config::Host::Tcp(h) => h.clone(),
        _ => return None,
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let from = format!("{host}:{port}");
    url.contains(&from).then(|| url.replacen(&from, &to.to_string(), 1))
}

/// The database's address in `url`.
fn pg_addr(url: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs as _;
    let c: postgres::Config = url.parse().ok()?;
    let postgres::config::Host::Tcp(h) = c.get_hosts().first()? else { return None };
    (h.as_str(), c.get_ports().first().copied().unwrap_or(5432)).to_socket_addrs().ok()?.next()
}

/// A network partition between the owner and the database (a TCP proxy on its database
/// connections, cut): the owner stops acting (it no longer holds the relay and its relay
/// connection is closed: a message sent then is kept by the relay) before any other instance
/// claims the relay; the new owner subscribes the queues again, and no message is pushed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_cut_from_the_database_stops_acting_before_another_takes_over() {
    let Ok(url) = std::env::var("NTF_TEST_PG_URL") else {
        eprintln!("SKIPPED owner_cut_from_the_database_stops_acting_before_another_takes_over: NTF_TEST_PG_URL is not set");
        return;
    };
    let (Some(db), true) = (pg_addr(&url), url_via(&url, "127.0.0.1:1".parse().unwrap()).is_some()) else {
        eprintln!("SKIPPED owner_cut_from_the_database_stops_acting_before_another_takes_over: NTF_TEST_PG_URL is not host:port");
        return;
    };
    let _serial = SERIAL.lock().await;
    let lease = LeaseConfig { ttl: Duration::from_secs(4), renew: Duration::from_millis(500), ..LeaseConfig::new("-") };
    let mut env = start(url.clone(), "cut", lease).await;
    // i0 reaches the database through the proxy, and owns the relay (it is alone at the
    // first subscription)
    let proxy = Cut::new(db).await;
    let pg_cut = PgConfig { url: url_via(&url, proxy.addr).unwrap(), ..env.pg.clone() };
    env.add_instance(&pg_cut).await;
    let mut apps = vec![env.app(0).await];
    assert_eq!(env.owner().await.as_deref(), Some("i0"));
    let pg = env.pg.clone();
    env.add_instance(&pg).await;
    env.add_instance(&pg).await;
    // the first app checks through every instance from now on
    apps[0].ntf = env.connect_all().await;
    for home in 1..3 {
        apps.push(env.app(home).await);
    }
    assert_eq!(env.owner().await.as_deref(), Some("i0"));
    let relay = env.relay_server();
    let a = env.instances[0].as_ref().unwrap();
    assert_eq!(a.holds_relay(&relay), Some(true));

    proxy.cut();
    let cut = Instant::now();
    let (mut stopped, mut kept_checked) = (None, false);
    let mut sent = 0;
    let claimed_by = loop {
        assert!(cut.elapsed() < WAIT, "no instance took the relay over");
        let a = env.instances[0].as_ref().unwrap();
        if stopped.is_none() && a.holds_relay(&relay) == Some(false) {
            stopped = Some(cut.elapsed());
        }
        if let Some(o) = env.owner().await.filter(|o| o != "i0") {
            assert!(stopped.is_some(), "{o} claimed the relay while i0 still acted for it");
            break o;
        }
        if stopped.is_some() && !kept_checked {
            // i0 closed its relay connection: a notification now has no subscriber, the
            // relay keeps it (for the NSUB of the next owner)
            tokio::time::sleep(Duration::from_millis(100)).await;
            apps[1].send(b"while nobody owns the relay").await;
            sent += 1;
            let end = Instant::now() + Duration::from_millis(300);
            while env.relay.stored_notifications() == 0 && Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(env.relay.stored_notifications() >= 1, "the relay still had a subscriber for the queue");
            let o = env.owner().await;
            assert!(o.is_none() || o.as_deref() == Some("i0"), "claimed during the check: {o:?}");
            kept_checked = true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let claimed = cut.elapsed();
    let stopped = stopped.unwrap();
    assert!(kept_checked, "the relay was claimed before the check ({stopped:?} -> {claimed:?})");
    eprintln!("partition: i0 stopped acting {stopped:?} after the cut, {claimed_by} claimed the relay {claimed:?} after it (lease_ttl 4 s)");
    // the new owner subscribes everything again; the kept notification is pushed once
    let via = claimed_by.trim_start_matches('i').parse::<usize>().unwrap();
    env.expect_notified(&apps[1], b"while nobody").await;
    for app in &apps {
        app.wait_active(via).await;
    }
    for (i, app) in apps.iter().enumerate() {
        app.send(format!("after {i}").as_bytes()).await;
        sent += 1;
    }
    for app in &apps {
        env.expect_notified(app, b"after").await;
    }
    for app in &apps {
        assert_eq!(env.extra_pushes(&app.token_text).await, 0, "pushed once");
    }
    assert_eq!(sent, 4);
    // i0 cannot give its leases up (cut): its shutdown gives up after RELEASE_LIMIT
    env.stop_all_and_drop_schema().await;
}

/// Runs `q` on the test's schema (one text or byte column per row, as `T`).
async fn pg_rows<T: for<'a> postgres::types::FromSql<'a> + Send + 'static>(pg: &PgConfig, q: &'static str) -> Vec<Vec<T>> {
    let (url, schema) = (pg.url.clone(), pg.schema.clone());
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("SET search_path TO \"{schema}\"")).unwrap();
        c.query(q, &[]).unwrap().iter().map(|r| (0..r.len()).map(|i| r.get::<_, T>(i)).collect()).collect()
    })
    .await
    .unwrap()
}

async fn journal_rows(pg: &PgConfig) -> usize {
    pg_rows::<String>(pg, "SELECT run FROM ntf_nmsg_journal").await.len()
}

/// An `NMSG` in the journal of a process that ended (a row of a run without a live `run`
/// lease, as a SIGKILL between its receipt and its push leaves it) is handled again by the
/// holder of `cron`: pushed once and its row deleted; a row of a live run is left to it; a row
/// whose push had started is deleted without a push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmsg_journaled_by_an_ended_process_is_pushed_by_the_cron_holder() {
    let Ok(url) = std::env::var("NTF_TEST_PG_URL") else {
        eprintln!("SKIPPED nmsg_journaled_by_an_ended_process_is_pushed_by_the_cron_holder: NTF_TEST_PG_URL is not set");
        return;
    };
    let _serial = SERIAL.lock().await;
    let lease = LeaseConfig { ttl: Duration::from_secs(2), renew: Duration::from_millis(500), ..LeaseConfig::new("-") };
    let mut env = start(url, "journal", lease).await;
    let pg = env.pg.clone();
    for _ in 0..2 {
        env.add_instance(&pg).await;
    }
    let app = env.app(0).await;
    app.send(b"journaled").await;
    let push = env.push_for(&app.token_text).await;
    let (first, _) = check_message_push(&push, &app.device, &app.creds, &app.smp, &app.queue).await;
    let end = Instant::now() + WAIT;
    while journal_rows(&pg).await > 0 {
        assert!(Instant::now() < end, "the journal row of a pushed NMSG stays");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the same NMSG as the store kept it
    let stored = pg_rows::<Vec<u8>>(&pg, "SELECT nmsg_nonce, nmsg_data FROM last_notifications").await;
    let [nmsg] = &stored[..] else { panic!("one last notification: {stored:?}") };
    let runs = pg_rows::<String>(&pg, "SELECT substr(resource, 5) FROM ntf_leases WHERE resource LIKE 'run %'").await;
    assert_eq!(runs.len(), 2, "a run lease per instance: {runs:?}");
    let store = Arc::new(open(&pg).await);
    let relay = env.relay_server();
    let journal = |run: String| {
        let (st, srv, nid, nmsg) = (store.clone(), relay.clone(), app.creds.notifier_id.clone(), nmsg.clone());
        tokio::task::spawn_blocking(move || st.journal_nmsg(&run, &srv, &nid, &nmsg[0], &nmsg[1]).unwrap())
    };
    // a live run's row: left to that run
    journal(runs[0][0].clone()).await.unwrap();
    assert_eq!(env.extra_pushes(&app.token_text).await, 0, "a live run's NMSG taken by another");
    assert_eq!(journal_rows(&pg).await, 1);
    // a row of a run that ended: pushed by the holder of cron
    journal("i9.00000000000000ff".into()).await.unwrap();
    let push = env.push_for(&app.token_text).await;
    let DevicePush::Messages(list) = app.device.receive(&push.body).unwrap() else { panic!("not a message push") };
    let item = list.messages().last().unwrap();
    let meta = decrypt_nmsg(&app.creds.rcv_ntf_dh_secret, &item.nonce, item.enc_meta()).unwrap();
    assert_eq!(meta.msg_id, first.msg_id, "the journaled NMSG pushed");
    assert_eq!(env.extra_pushes(&app.token_text).await, 0, "pushed once");
    assert_eq!(journal_rows(&pg).await, 1, "the ended run's row deleted, the live run's kept");
    // a row of a run that ended while its push was out (`journal_pushing` committed): the
    // outcome is unknown, so it is logged and counted as of unknown outcome, not pushed again. Written under a
    // live run and marked, then moved to an ended run in one statement, so that the holder
    // of cron cannot take it before the mark.
    let id = journal(runs[1][0].clone()).await.unwrap();
    let st = store.clone();
    tokio::task::spawn_blocking(move || st.journal_pushing(id).unwrap()).await.unwrap();
    let moved = pg_rows::<String>(&pg, "UPDATE ntf_nmsg_journal SET run = 'i9.00000000000000fe' WHERE pushing_at IS NOT NULL RETURNING run").await;
    assert_eq!(moved.len(), 1, "one row marked as pushing: {moved:?}");
    let end = Instant::now() + WAIT;
    while journal_rows(&pg).await > 1 {
        assert!(Instant::now() < end, "the ended run's row whose push had started stays");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(env.extra_pushes(&app.token_text).await, 0, "an NMSG whose push had started pushed again");
    // the writer's group commit: inserts (ids in order), a mark and a deletion in one
    // transaction, under the live run so that nobody takes the rows meanwhile
    let live = runs[0][0].clone();
    let kept = pg_rows::<i64>(&pg, "SELECT nmsg_id FROM ntf_nmsg_journal").await;
    let [kept_id] = kept.iter().map(|r| r[0]).collect::<Vec<_>>()[..] else { panic!("one row left: {kept:?}") };
    let rec = |n: u8| NewNmsg { server: relay.clone(), notifier_id: vec![n; 24], nonce: nmsg[0].clone(), enc_meta: nmsg[1].clone() };
    let (st, recs) = (store.clone(), vec![rec(1), rec(2)]);
    let ids = tokio::task::spawn_blocking(move || {
        let first = st.journal_batch(&live, &recs[..1], &[], &[]).unwrap();
        let rest = st.journal_batch(&live, &recs[1..], &[first[0]], &[kept_id]).unwrap();
        [first[0], rest[0]]
    })
    .await
    .unwrap();
    assert!(ids[0] < ids[1], "ids in insertion order: {ids:?}");
    let rows = pg_rows::<i64>(&pg, "SELECT nmsg_id, (pushing_at IS NOT NULL)::int::int8 FROM ntf_nmsg_journal ORDER BY nmsg_id").await;
    assert_eq!(rows, vec![vec![ids[0], 1], vec![ids[1], 0]], "the kept row deleted, the first marked, the second unmarked");
    let st = store.clone();
    tokio::task::spawn_blocking(move || st.journal_done(&ids).unwrap()).await.unwrap();
    drop(store);
    env.stop_all_and_drop_schema().await;
}
