//! `[STORE_LOG] enable = on`: the server appends the reference's store log while it runs
//! (`newNtfDbStore`'s `openWriteStoreLog True` and `withLog` of
//! `Notifications/Server/Store/Postgres.hs`). The app flow leaves exactly the reference's
//! records, each written when its command is answered; read back as `database import` reads
//! it, the log holds the store's state; a log that cannot be written is reported and the
//! commands still succeed; with `enable = off` nothing is written.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ntf_proto::command::{NewNtfSubscription, NtfEntityId};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::store_log::{StoreLogRecord as R, SubRec, TokenRec, STORE_LOG_FILE};
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::NtfTknStatus;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::smp::{RecipientQueue, SmpClient, SmpClientConfig};
use ref_server::load::env::{self, Relay};
use ref_server::load::fleet::{self, Token};
use ref_server::load::router::PushRouter;
use ref_server::ntf::Store as _;
use ref_server::server::config::{ApnsTestSection, Config, ServerPaths};
use ref_server::server::shell::RunningServer;
use ref_server::store::log::select::select;
use ref_server::store::log::state::LogState;
use ref_server::store::SqliteStore;
use smp_proto::command::SubscriptionMode;
use smp_proto::keys::AuthPrivateKey;

/// What the server logs, for the test that makes a write fail (one subscriber for the
/// process: the warnings come from the runtime's worker threads).
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Captured(buf.clone());
        let _ = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).try_init();
        buf
    })
}

#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Env {
    router: PushRouter,
    relay: Relay,
    router_task: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
    config: Config,
}

impl Env {
    /// A server directory whose pushes go to the mock provider; `store_log` is `enable`.
    async fn new(store_log: bool) -> Self {
        let mock = Arc::new(env::start_mock().await.unwrap());
        let router = PushRouter::new();
        let router_task = router.start(mock.clone());
        let relay = Relay::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mock-ca.pem"), mock.ca_pem()).unwrap();
        ref_server::server::init(dir.path(), "127.0.0.1", 0).unwrap();
        let mut config = Config::load(dir.path()).unwrap();
        config.server.listen = [127, 0, 0, 1].into();
        config.apns_test = Some(ApnsTestSection { host: mock.addr().ip().to_string(), port: mock.addr().port(), ca_file: "mock-ca.pem".into() });
        config.store.store_log = store_log;
        // written and read back: `enable = on` as the operator's INI has it
        config.save(dir.path()).unwrap();
        let ini = std::fs::read_to_string(dir.path().join("ntf-server.ini")).unwrap();
        assert!(ini.contains(&format!("enable = {}\n", if store_log { "on" } else { "off" })), "{ini}");
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config.store.store_log, store_log);
        Self { router, relay, router_task, dir, config }
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join(STORE_LOG_FILE)
    }

    async fn start(&self) -> anyhow::Result<RunningServer> {
        ref_server::server::run_config(&ServerPaths::same(self.dir.path()), &self.config).await
    }
}

/// The log's records once it has `n` lines (read while the server runs: each record is
/// written before the command's answer, or the push result, is acted on).
async fn records(path: &Path, n: usize) -> Vec<R> {
    let mut text = Vec::new();
    for _ in 0..200 {
        text = std::fs::read(path).unwrap_or_default();
        if ntf_proto::store_log::lines(&text).count() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recs: Vec<R> = ntf_proto::store_log::lines(&text).map(|l| R::decode(l).unwrap()).collect();
    assert_eq!(recs.len(), n, "{recs:#?}");
    recs
}

async fn status_becomes(client: &NtfClient, key: &AuthPrivateKey, sub: &NtfEntityId, want: NtfSubStatus) {
    for _ in 0..200 {
        if client.schk(key, sub).await.unwrap() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("subscription never became {want:?}");
}

/// A queue on the relay with notifications on, subscribed for `t` (`SNEW`).
async fn subscribed(client: &NtfClient, smp: &SmpClient, relay: &Relay, t: &Token) -> (RecipientQueue, SmpQueueNtf, AuthPrivateKey, NtfEntityId) {
    let q = smp.create_queue(SubscriptionMode::OnlyCreate, true).await.unwrap();
    let creds = smp.enable_notifications(&q).await.unwrap();
    let queue = SmpQueueNtf::new(relay.smp_server(), creds.notifier_id.clone()).unwrap();
    let new = NewNtfSubscription { token_id: t.id.clone(), queue: queue.clone(), notifier_key: creds.notifier_key.private.clone() };
    let id = client.snew(&t.key, new).await.unwrap();
    (q, queue, creds.notifier_key.private, id)
}

/// TNEW, the verification push delivered, TVFY, TCRN, SNEW, the relay's answers, NDEL (the
/// relay's DELD), SDEL, a second SNEW, TDEL: the records of the reference's `withLog` calls
/// in order (`addNtfToken`, `setTknStatusConfirmed`, `setTokenActive`,
/// `updateTknCronInterval`, `addNtfSubscription`, `updateSubStatus` PENDING when NSUB is
/// sent, `updateSrvSubStatus` DELETED, `deleteNtfSubscription`, `deleteNtfToken`); the
/// relay's batch answer (ACTIVE, `batchUpdateSrvSubStatus`) is not logged, as there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_flow_leaves_the_references_records() {
    let env = Env::new(true).await;
    let server = env.start().await.unwrap();
    let log = env.log_path();
    let client = NtfClient::connect_addr(server.addr, &server.key_hash, &NtfClientConfig::default()).await.unwrap();

    // TNEW; the verification push delivered makes it CONFIRMED before the app's TVFY
    let pending = fleet::new_tokens(&client, &env.router, 1).await.unwrap();
    let recs = records(&log, 2).await;
    let R::CreateToken(created) = &recs[0] else { panic!("{recs:?}") };
    let tid = created.id.clone();
    assert_eq!(created.status, NtfTknStatus::Registered);
    assert_eq!(recs[1], R::TokenStatus(tid.clone(), NtfTknStatus::Confirmed));
    let t = fleet::verify_tokens(&client, &env.router, pending, Duration::from_secs(10)).await.unwrap().remove(0);
    assert_eq!(t.id, tid);
    assert_eq!(records(&log, 3).await[2], R::TokenStatus(tid.clone(), NtfTknStatus::Active));
    client.tcrn(&t.key, &tid, 20).await.unwrap();
    // `logTokenCron sl tknId 0`: the interval is not kept
    assert_eq!(records(&log, 4).await[3], R::TokenCron(tid.clone(), 0));

    // SNEW; NSUB sent (PENDING); SOK (ACTIVE, not logged); NDEL on the relay: DELD
    let smp = SmpClient::connect(&env.relay.smp_server(), &SmpClientConfig::default()).await.unwrap();
    let (q1, queue1, nkey1, s1) = subscribed(&client, &smp, &env.relay, &t).await;
    status_becomes(&client, &t.key, &s1, NtfSubStatus::Active).await;
    smp.disable_notifications(&q1).await.unwrap();
    status_becomes(&client, &t.key, &s1, NtfSubStatus::Deleted).await;
    client.sdel(&t.key, &s1).await.unwrap();
    let (_q2, queue2, nkey2, s2) = subscribed(&client, &smp, &env.relay, &t).await;
    status_becomes(&client, &t.key, &s2, NtfSubStatus::Active).await;
    let sub_rec = |id: &NtfEntityId, queue: &SmpQueueNtf, key: &AuthPrivateKey| SubRec {
        id: id.clone(),
        queue: queue.clone(),
        notifier_key: key.clone(),
        token_id: tid.clone(),
        status: NtfSubStatus::New,
        service_assoc: false,
    };
    let recs = records(&log, 10).await;
    assert_eq!(
        recs[4..],
        [
            R::CreateSubscription(sub_rec(&s1, &queue1, &nkey1)),
            R::SubscriptionStatus(s1.clone(), NtfSubStatus::Pending, false),
            R::SubscriptionStatus(s1.clone(), NtfSubStatus::Deleted, false),
            R::DeleteSubscription(s1.clone()),
            R::CreateSubscription(sub_rec(&s2, &queue2, &nkey2)),
            R::SubscriptionStatus(s2.clone(), NtfSubStatus::Pending, false),
        ]
    );

    // read back as `database import` reads it (`readNtfStore`, then `importNtfSTMStore`'s
    // selection): the store's token and subscription, but for what the reference does not
    // keep: the periodic interval (the import sets 0) and the relay's batch answer (the
    // subscription's status is the last one logged, PENDING; the store's is ACTIVE)
    let (st, bad) = LogState::read_store_log(&std::fs::read(&log).unwrap());
    assert!(bad.is_empty(), "{bad:?}");
    let sel = select(&st, &Default::default());
    let db = SqliteStore::open(env.dir.path().join(&env.config.store.path)).unwrap();
    let stored = db.get_token(&tid).unwrap().unwrap();
    assert_eq!(stored.cron_interval, 20);
    let want = TokenRec { cron_interval: 0, ..TokenRec::from(stored) };
    assert_eq!(sel.tokens.iter().map(|t| TokenRec::from(t.clone())).collect::<Vec<_>>(), vec![want]);
    let (_, stored) = db.get_subscription(&s2).unwrap().unwrap();
    assert_eq!(stored.status, NtfSubStatus::Active);
    assert_eq!(sel.subs.len(), 1);
    assert_eq!(sel.subs[0].status, NtfSubStatus::Pending);
    assert_eq!(SubRec::from(sel.subs[0].clone()), SubRec { status: NtfSubStatus::Pending, ..SubRec::from(stored) });
    assert_eq!(db.entity_counts().unwrap().subscriptions, 1);
    drop(db);

    // TDEL: one record, its subscription goes with it when read back
    client.tdel(&t.key, &tid).await.unwrap();
    assert_eq!(records(&log, 11).await[10], R::DeleteToken(tid.clone()));
    let (st, _) = LogState::read_store_log(&std::fs::read(&log).unwrap());
    assert!(st.tokens.is_empty() && st.subs.is_empty(), "{st:?}");
    server.shutdown().await;

    // the next start appends (`openWriteStoreLog True`)
    let again = env.start().await.unwrap();
    let client = NtfClient::connect_addr(again.addr, &again.key_hash, &NtfClientConfig::default()).await.unwrap();
    fleet::new_tokens(&client, &env.router, 1).await.unwrap();
    let recs = records(&log, 13).await;
    assert!(matches!(&recs[11], R::CreateToken(t) if t.id != tid), "{recs:?}");
    again.shutdown().await;
    env.router_task.abort();
}

/// `enable = off`: no store log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_written_when_disabled() {
    let env = Env::new(false).await;
    let server = env.start().await.unwrap();
    let client = NtfClient::connect_addr(server.addr, &server.key_hash, &NtfClientConfig::default()).await.unwrap();
    let t = fleet::register_tokens(&client, &env.router, 1).await.unwrap().remove(0);
    client.tcrn(&t.key, &t.id, 20).await.unwrap();
    server.shutdown().await;
    assert!(!env.log_path().exists());
    let names: Vec<_> = std::fs::read_dir(env.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!names.iter().any(|n| n.to_string_lossy().contains("store.log")), "{names:?}");
    env.router_task.abort();
}

/// A store log that cannot be written (the always-full device): each failure is logged as
/// the reference's `withLog_` logs it (`STORE: <op>, withLog, <error>`) and the commands
/// succeed; a store log that cannot be opened stops the start with one line naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_logged_and_the_command_succeeds() {
    let logs = captured();
    let env = Env::new(true).await;
    // the store made first (a first start on a directory with only a store log imports it)
    env.start().await.unwrap().shutdown().await;
    std::fs::remove_file(env.log_path()).unwrap();
    std::os::unix::fs::symlink("/dev/full", env.log_path()).unwrap();
    let server = env.start().await.unwrap();
    let client = NtfClient::connect_addr(server.addr, &server.key_hash, &NtfClientConfig::default()).await.unwrap();
    let t = fleet::register_tokens(&client, &env.router, 1).await.unwrap().remove(0);
    client.tcrn(&t.key, &t.id, 20).await.unwrap();
    client.tdel(&t.key, &t.id).await.unwrap();
    server.shutdown().await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    for op in ["addNtfToken", "setTokenActive", "updateTknCronInterval", "deleteNtfToken"] {
        assert!(text.contains(&format!("STORE: {op}, withLog, ")), "{op} in\n{text}");
    }
    assert!(text.contains("No space left on device"), "{text}");

    std::fs::remove_file(env.log_path()).unwrap();
    std::fs::create_dir(env.log_path()).unwrap();
    let e = format!("{:#}", env.start().await.err().unwrap());
    assert!(e.contains("cannot open the store log") && e.contains(STORE_LOG_FILE), "{e}");
    let _ = std::io::stderr().flush();
    env.router_task.abort();
}
