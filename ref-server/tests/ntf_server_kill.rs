//! Fault test: the `ntf-server` process killed with SIGKILL under load and started again on the
//! same directory (SQLite store, the default `synchronous` setting), with an in-process SMP
//! relay and the mock APNS as the `AT` provider.
//!
//! What the server guarantees across a SIGKILL, and what this test asserts:
//! - every command it acknowledged is durable: the store commits (one transaction per store
//!   call, synced by SQLite) before the response is written, so every token whose `TNEW` got
//!   `IDTKN` answers `TCHK` after the restart (ACTIVE when `TVFY` got `OK`), and every
//!   subscription whose `SNEW` got `IDSUB` answers `SCHK`;
//! - at start it resubscribes every stored subscription (NEW, PENDING, ACTIVE, INACTIVE), so they
//!   all become ACTIVE again, and a message sent after the restart is pushed exactly once;
//! - no message is ever pushed twice: the relay hands a notification to the notification server
//!   once (and deletes it), and the server pushes each `NMSG` once.
//!
//! What is not guaranteed, and so not asserted: a push for a message sent shortly before the
//! kill. The server's push queue lives in memory (as the reference's `pushQ`), and an `NMSG` the
//! relay wrote to the dying connection is gone (the relay's delivery of notifications is at
//! most once, as the reference's). Such a message may still reach the device as an older item
//! of its token's next push, since the last notifications are kept in the store. Notifications
//! for messages sent after the relay has noticed the closed connection are kept by the relay
//! and delivered on the next `NSUB`; the test lets some through but does not count on the
//! timing. Commands in flight at the kill may or may not have been applied (their reply is
//! lost): a token whose `TVFY` got no answer may be ACTIVE or not.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ntf_proto::command::{NewNtfToken, NtfEntityId};
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfTknStatus, PushProvider};
use ref_client::client::{ClientError, NtfClient, NtfClientConfig};
use ref_client::device::{Device, DevicePush};
use ref_client::smp::{RecipientQueue, SmpClient, SmpClientConfig};
use ref_server::apns::mock::MockApns;
use ref_server::load::env::{self, Relay};
use ref_server::load::fleet::{self, Queue, Token};
use ref_server::load::router::PushRouter;
use ref_server::ntf::Store;
use ref_server::server::config::{ApnsTestSection, Config};
use ref_server::store::SqliteStore;
use ref_transport::random_array;
use smp_proto::command::SubscriptionMode;
use smp_proto::crypto::{ed25519_public, x25519_public};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::server::{KeyHash, NtfServer, SmpServer};
use tokio::sync::watch;

/// The tests of this file run one at a time: each loads both cores for its timings.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Upper bound on the whole test.
const TEST_CAP: Duration = Duration::from_secs(55);
/// Load rounds (token registered and verified, two subscriptions, TCHK) before the kill.
const ROUNDS_BEFORE_KILL: usize = 6;
/// Message pushes seen before the kill.
const PUSHES_BEFORE_KILL: u64 = 30;
/// NTF connections registering tokens and subscriptions concurrently.
const WORKERS: usize = 3;

/// The `ntf-server start` child process; killed when dropped.
struct ServerProcess {
    dir: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl ServerProcess {
    fn spawn(&mut self) {
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ntf-server"))
            .args(["start", "--dir"])
            .arg(&self.dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// The log of the last start.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("server-{}.log", self.starts)))
            .unwrap_or_default()
    }

    /// Starts the server and waits (at most 20 s) until it completes an NTF handshake. A start
    /// that exits at once (the port still held by the killed process) is retried.
    async fn start(&mut self, addr: SocketAddr, key_hash: &KeyHash) -> NtfClient {
        let end = Instant::now() + Duration::from_secs(20);
        self.spawn();
        loop {
            assert!(
                Instant::now() < end,
                "ntf-server not serving within 20 s:\n{}",
                self.log()
            );
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = self.log();
                assert!(
                    log.contains("cannot listen"),
                    "ntf-server exited ({status}):\n{log}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.spawn();
                continue;
            }
            let config = NtfClientConfig {
                timeout: Duration::from_secs(5),
                ..NtfClientConfig::default()
            };
            if let Ok(c) = NtfClient::connect_addr(addr, key_hash, &config).await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and reaps the process.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            let status = c.wait().unwrap();
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9),
                "{status}"
            );
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `ntf-server init` in `dir` on a free loopback port, configured for the SQLite store and the
/// mock APNS; returns the port and the server identity.
fn init_dir(dir: &Path, mock: &MockApns, services: bool) -> (u16, KeyHash) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_ntf-server"))
        .args([
            "init",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--dir",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // the reference's `printServiceInfo` ends with `Server address: ntf://...`
    let address = stdout.lines().last().unwrap().trim_start_matches("Server address: ");
    let server = NtfServer::parse_text(address.as_bytes()).unwrap();
    std::fs::write(dir.join("mock-ca.pem"), mock.ca_pem()).unwrap();
    let mut config = Config::load(dir).unwrap();
    assert_eq!(
        config.store.backend,
        ref_server::server::config::StoreBackend::Sqlite
    );
    config.server.listen = [127, 0, 0, 1].into();
    config.apns_test = Some(ApnsTestSection {
        host: mock.addr().ip().to_string(),
        port: mock.addr().port(),
        ca_file: "mock-ca.pem".into(),
    });
    config.subscriber.use_service_credentials = services;
    config.save(dir).unwrap();
    (port, server.key_hash().clone())
}

/// A token whose `TNEW` the server acknowledged.
struct AckedToken {
    token: Token,
    /// `TVFY` acknowledged.
    verified: bool,
}

/// A subscription whose `SNEW` the server acknowledged, and its queue as the recipient has it.
struct AckedSub {
    token: usize,
    id: NtfEntityId,
    queue: Queue,
    rcv: RecipientQueue,
}

/// What the server acknowledged before the kill.
#[derive(Default)]
struct Acked {
    tokens: Vec<AckedToken>,
    subs: Vec<AckedSub>,
}

type Shared = Arc<Mutex<Acked>>;

fn lock(a: &Shared) -> std::sync::MutexGuard<'_, Acked> {
    a.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A queue with notifications enabled, counted by the router.
async fn new_queue(
    smp: &SmpClient,
    router: &PushRouter,
) -> Result<(RecipientQueue, Queue), String> {
    let q = smp
        .create_queue(SubscriptionMode::OnlyCreate, true)
        .await
        .map_err(|e| e.to_string())?;
    let creds = smp
        .enable_notifications(&q)
        .await
        .map_err(|e| e.to_string())?;
    router.add_queue(&creds.notifier_id, creds.rcv_ntf_dh_secret);
    let queue = Queue {
        snd_id: q.snd_id.clone(),
        notifier_id: creds.notifier_id,
        notifier_key: creds.notifier_key.private,
        secret: creds.rcv_ntf_dh_secret,
    };
    Ok((q, queue))
}

/// `TNEW` (recorded when acknowledged), the verification push, `TVFY` (recorded when
/// acknowledged); returns the token's index. Ends early with an error once `killed` is set.
async fn register(
    client: &NtfClient,
    router: &PushRouter,
    acked: &Shared,
    killed: &mut watch::Receiver<bool>,
) -> Result<usize, String> {
    let seed = random_array::<32>().unwrap();
    let key = AuthPrivateKey::new(PrivateKey::Ed25519(seed)).unwrap();
    let verify_key = AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed))).unwrap();
    let dh = random_array::<32>().unwrap();
    let text = fleet::random_token_text().unwrap();
    let new = NewNtfToken {
        token: DeviceToken::new(PushProvider::ApnsTest, text.clone().into_bytes()).unwrap(),
        verify_key,
        dh_key: X25519PublicKey(x25519_public(&dh)),
    };
    let push = router.expect_push(&text);
    let (id, server_dh) = client
        .tnew(&key, new)
        .await
        .map_err(|e| format!("TNEW: {e}"))?;
    let device = Device::from_idtkn(&dh, &PublicKey::X25519(server_dh.0)).unwrap();
    let token = Token {
        key,
        id,
        text,
        device,
    };
    let index = {
        let mut a = lock(acked);
        a.tokens.push(AckedToken {
            token: token.clone(),
            verified: false,
        });
        a.tokens.len() - 1
    };
    let body = tokio::select! {
        b = tokio::time::timeout(Duration::from_secs(15), push) => {
            b.map_err(|_| "no verification push in 15 s".to_string())?.unwrap()
        }
        _ = killed.wait_for(|k| *k) => return Err("killed while waiting for the push".into()),
    };
    let code = match token.device.receive(&body) {
        Ok(DevicePush::Verification(code)) => code,
        other => panic!("not a verification push: {other:?}"),
    };
    client
        .tvfy(&token.key, &token.id, code)
        .await
        .map_err(|e| format!("TVFY: {e}"))?;
    router.add_device(&token.text, token.device.clone());
    lock(acked).tokens[index].verified = true;
    Ok(index)
}

/// One NTF connection under load: rounds of a new verified token, two subscriptions on new
/// queues, and `TCHK`, until a command fails (the kill).
async fn worker(
    client: NtfClient,
    smp: Arc<SmpClient>,
    relay: SmpServer,
    router: PushRouter,
    acked: Shared,
    rounds: Arc<AtomicUsize>,
    mut killed: watch::Receiver<bool>,
) -> String {
    loop {
        let t = match register(&client, &router, &acked, &mut killed).await {
            Ok(t) => t,
            Err(e) => return e,
        };
        let token = lock(&acked).tokens[t].token.clone();
        for _ in 0..2 {
            let (rcv, queue) = new_queue(&smp, &router).await.expect("the relay stays up");
            match fleet::subscribe(&client, &relay, &[(&token, &queue)]).await {
                Ok(ids) => {
                    let id = ids.into_iter().next().unwrap();
                    lock(&acked).subs.push(AckedSub {
                        token: t,
                        id,
                        queue,
                        rcv,
                    });
                }
                Err(e) => return format!("SNEW: {e}"),
            }
        }
        match client.tchk(&token.key, &token.id).await {
            Ok(s) => assert_eq!(s, NtfTknStatus::Active, "a verified token under load"),
            Err(e) => return format!("TCHK: {e}"),
        }
        rounds.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sends a message every 5 ms to the acknowledged subscriptions' queues in turn until `stop`;
/// returns how many the relay accepted.
async fn sender(
    smp: Arc<SmpClient>,
    router: PushRouter,
    acked: Shared,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut accepted = 0;
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let queue = {
            let a = lock(&acked);
            (!a.subs.is_empty()).then(|| a.subs[i % a.subs.len()].queue.clone())
        };
        if let Some(q) = queue {
            accepted += fleet::send_messages(&smp, &router, &[&q], b"under load")
                .await
                .expect("the relay stays up");
            i += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    accepted
}

/// Waits (at most `secs`) until `f` holds.
async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GET and ACK every message in the queue (at most 1000), so that the next GET returns the next
/// message sent.
async fn drain(smp: &SmpClient, q: &RecipientQueue) {
    for _ in 0..1000 {
        match smp.get_message(q).await.unwrap() {
            Some((msg_id, _)) => {
                smp.ack(q, &msg_id).await.unwrap();
            }
            None => return,
        }
    }
    panic!("queue not drained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntf_server_killed_under_load_keeps_acknowledged_state_and_resubscribes() {
    let _one_at_a_time = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess {
        dir: dir.path().to_path_buf(),
        child: None,
        starts: 0,
    };
    tokio::time::timeout(TEST_CAP, run(&mut server, false))
        .await
        .expect("test time cap");
}

/// The same with `use_service_credentials = on`: the subscriptions are associated with the
/// server's service at the relay, and after the kill one `NSUBS` confirms them (the relay's
/// count and the store's agree: a `SOK` not stored before the kill is on a subscription that
/// is subscribed one by one before `NSUBS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntf_server_killed_with_service_subscriptions_resubscribes_them_with_nsubs() {
    let _one_at_a_time = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess {
        dir: dir.path().to_path_buf(),
        child: None,
        starts: 0,
    };
    tokio::time::timeout(TEST_CAP, run(&mut server, true))
        .await
        .expect("test time cap");
}

async fn run(server: &mut ServerProcess, services: bool) {
    let t0 = Instant::now();
    let mock = Arc::new(env::start_mock().await.unwrap());
    let router = PushRouter::new();
    let router_task = router.start(mock.clone());
    let relay = Relay::start().await.unwrap();
    let relay_addr = relay.smp_server();
    let (port, key_hash) = init_dir(&server.dir, &mock, services);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let smp_config = SmpClientConfig::default();
    let smp = Arc::new(SmpClient::connect(&relay_addr, &smp_config).await.unwrap());

    // load: token and subscription traffic on several connections, messages on the relay
    let mut clients = vec![server.start(addr, &key_hash).await];
    eprintln!("{:?}: serving", t0.elapsed());
    for _ in 1..WORKERS {
        clients.push(
            NtfClient::connect_addr(addr, &key_hash, &NtfClientConfig::default())
                .await
                .unwrap(),
        );
    }
    let acked: Shared = Arc::default();
    let rounds = Arc::new(AtomicUsize::new(0));
    let (kill_tx, kill_rx) = watch::channel(false);
    let workers: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let (smp, relay_addr, router, acked, rounds, killed) = (
                smp.clone(),
                relay_addr.clone(),
                router.clone(),
                acked.clone(),
                rounds.clone(),
                kill_rx.clone(),
            );
            tokio::spawn(worker(
                client, smp, relay_addr, router, acked, rounds, killed,
            ))
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let sending = tokio::spawn(sender(
        smp.clone(),
        router.clone(),
        acked.clone(),
        stop.clone(),
    ));
    until(20, "load before the kill", || {
        rounds.load(Ordering::SeqCst) >= ROUNDS_BEFORE_KILL
            && router.counts().messages >= PUSHES_BEFORE_KILL
    })
    .await;

    // a worker that ended already met an error (or a failed check) while the server was up
    assert!(
        workers.iter().all(|w| !w.is_finished()),
        "a worker failed before the kill"
    );
    eprintln!("{:?}: killing under load", t0.elapsed());
    server.kill();
    let _ = kill_tx.send(true);
    for w in workers {
        let ended = tokio::time::timeout(Duration::from_secs(20), w)
            .await
            .expect("a worker ends after the kill")
            .unwrap();
        eprintln!("worker ended: {ended}");
    }
    // messages keep coming while the server is down
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut accepted = sending.await.unwrap();
    let before = router.counts();
    let (n_tokens, n_verified, n_subs) = {
        let a = lock(&acked);
        (
            a.tokens.len(),
            a.tokens.iter().filter(|t| t.verified).count(),
            a.subs.len(),
        )
    };
    eprintln!("acknowledged before the kill: {n_tokens} tokens ({n_verified} verified), {n_subs} subscriptions; {accepted} messages sent, pushes {before:?}");
    assert!(n_verified >= ROUNDS_BEFORE_KILL && n_subs >= 2 * ROUNDS_BEFORE_KILL);
    assert_eq!(before.duplicates, 0, "{before:?}");

    // restart on the same directory
    let client = server.start(addr, &key_hash).await;
    eprintln!("{:?}: serving again", t0.elapsed());
    let a = std::mem::take(&mut *lock(&acked));
    let statuses = token_statuses(&client, &a.tokens).await;
    for (t, status) in a.tokens.iter().zip(statuses) {
        let status = status.expect("an acknowledged token is kept");
        if t.verified {
            assert_eq!(status, NtfTknStatus::Active, "a verified token");
        } else {
            // TNEW acknowledged; the verification push or TVFY may have been in flight
            assert!(
                matches!(
                    status,
                    NtfTknStatus::Registered | NtfTknStatus::Confirmed | NtfTknStatus::Active
                ),
                "an unverified token: {status}"
            );
        }
    }
    for s in sub_statuses(&client, &a).await {
        s.expect("an acknowledged subscription is kept");
    }
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let statuses: Vec<_> = sub_statuses(&client, &a)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        if statuses.iter().all(|s| *s == NtfSubStatus::Active) {
            break;
        }
        assert!(
            Instant::now() < end,
            "subscriptions not ACTIVE again: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{:?}: subscriptions ACTIVE again", t0.elapsed());
    if services {
        // every acknowledged subscription is associated with the service, and the restart
        // confirmed them with NSUBS, not by falling back to one NSUB each
        let store = SqliteStore::open(server.dir.join("ntf-store.db")).unwrap();
        for s in &a.subs {
            let (_, rec) = store.get_subscription(&s.id).unwrap().unwrap();
            assert!(rec.service_assoc, "{:?} not associated", s.id);
        }
        let log = server.log();
        assert!(log.contains("service subscribed: SOKS"), "no NSUBS after the restart:\n{log}");
        assert!(!log.contains("association removed"), "fell back to NSUB:\n{log}");
    }

    // one message per subscription after the restart, each pushed exactly once
    let mut set = tokio::task::JoinSet::new();
    for s in &a.subs {
        let (smp, router, rcv, queue) =
            (smp.clone(), router.clone(), s.rcv.clone(), s.queue.clone());
        set.spawn(async move {
            drain(&smp, &rcv).await;
            assert_eq!(
                fleet::send_messages(&smp, &router, &[&queue], b"after restart")
                    .await
                    .unwrap(),
                1
            );
            let (msg_id, _) = smp
                .get_message(&rcv)
                .await
                .unwrap()
                .expect("the message just sent");
            (queue.notifier_id, msg_id)
        });
    }
    let sent: Vec<(Vec<u8>, Vec<u8>)> = set.join_all().await;
    accepted += sent.len();
    eprintln!("{:?}: sent after the restart", t0.elapsed());
    until(20, "every message sent after the restart pushed", || {
        sent.iter().all(|(nid, m)| router.pushes_of(nid, m) >= 1)
    })
    .await;
    // late duplicates would show up here
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (nid, m) in &sent {
        assert_eq!(
            router.pushes_of(nid, m),
            1,
            "a message sent after the restart is pushed once"
        );
    }
    let counts = router.counts();
    eprintln!("{:?}: pushes at the end: {counts:?}", t0.elapsed());
    assert_eq!(
        counts.duplicates, 0,
        "no message pushed twice across the kill: {counts:?}"
    );
    assert_eq!(counts.unreadable, 0, "{counts:?}");
    assert!(
        counts.messages as usize <= accepted,
        "{} pushed, {accepted} sent",
        counts.messages
    );
    router_task.abort();
}

/// `TCHK` for every token, in one batch.
async fn token_statuses(
    client: &NtfClient,
    tokens: &[AckedToken],
) -> Vec<Result<NtfTknStatus, ClientError>> {
    let items: Vec<(&AuthPrivateKey, &NtfEntityId)> =
        tokens.iter().map(|t| (&t.token.key, &t.token.id)).collect();
    client.tchk_many(&items).await.unwrap()
}

/// `SCHK` for every subscription, in one batch.
async fn sub_statuses(client: &NtfClient, a: &Acked) -> Vec<Result<NtfSubStatus, ClientError>> {
    let items: Vec<(&AuthPrivateKey, &NtfEntityId)> = a
        .subs
        .iter()
        .map(|s| (&a.tokens[s.token].token.key, &s.id))
        .collect();
    client.schk_many(&items).await.unwrap()
}
