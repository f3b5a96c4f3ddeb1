//! The backend-independent store suite, run against [`MemStore`], [`SqliteStore`] and
//! [`PgStore`] (when `NTF_TEST_PG_URL` is set): every [`Store`] method's behaviour, a
//! differential run of random operations against [`MemStore`], durability across reopening,
//! and crash tests that kill a child process running the real [`NtfServerCore`] with SIGKILL
//! and check that every acknowledged entity is in the store.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::vec::Vec;
use std::{format, println, vec};

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntityId};
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtInvalidReason, NtfRegCode, NtfTknStatus, PushProvider};
use ntf_proto::version::Version;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use smp_proto::crypto::{ed25519_public, sign_ed25519, x25519_public, Signature, TransmissionAuth};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};
use smp_proto::transmission::{ForAuth, RawTransmission};

use super::log::logged::LoggedStore;
use super::log::state::LogState;
use super::log::writer::StoreLogWriter;
use super::{PgConfig, PgStore, SqliteStore, SHOULD_SUBSCRIBE_SQL};
use ntf_proto::store_log::{SubRec, TokenRec};
use crate::ntf::{
    Config, Effect, EntityCounts, MemStore, NtfServerCore, PushNotification, ServerService, SessionParams, Store,
    StoreError,
    SubStatusChange, SubscriptionRecord, TokenActivated, TokenRecord,
};

// ---------------------------------------------------------------------------------------
// Backends

/// A store that can be opened again on the same data.
trait Backend {
    type S: Store;
    fn name(&self) -> &'static str;
    fn open(&self) -> Self::S;
    /// Whether the data outlives the store value.
    fn durable(&self) -> bool;
}

struct Mem;

impl Backend for Mem {
    type S = MemStore;
    fn name(&self) -> &'static str {
        "mem"
    }
    fn open(&self) -> MemStore {
        MemStore::new()
    }
    fn durable(&self) -> bool {
        false
    }
}

fn unique() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SQLite database in a fresh directory, removed on drop.
struct Sqlite {
    dir: PathBuf,
}

impl Sqlite {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("ntf-store-test-{}", unique()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("ntf.db")
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Backend for Sqlite {
    type S = SqliteStore;
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn open(&self) -> SqliteStore {
        SqliteStore::open(self.path()).expect("open sqlite")
    }
    fn durable(&self) -> bool {
        true
    }
}

/// A SQLite store behind a [`LoggedStore`], its store log next to it. When the test is done,
/// the log read back as `database import` reads it (`LogState`) must hold the store's tokens
/// and subscriptions: the same ids and fields, but for the periodic intervals and the
/// subscription statuses and service associations that the reference does not log
/// (`updateTknCronInterval` logs 0, `batchUpdateSrvSubStatus`, `getServerNtfSubscriptions`).
struct Logged {
    db: Sqlite,
}

impl Logged {
    fn log_path(&self) -> PathBuf {
        self.db.dir.join(ntf_proto::store_log::STORE_LOG_FILE)
    }
}

impl Backend for Logged {
    type S = LoggedStore<SqliteStore>;
    fn name(&self) -> &'static str {
        "logged"
    }
    fn open(&self) -> Self::S {
        let log = StoreLogWriter::open_append(&self.log_path()).expect("open the store log");
        LoggedStore::new(SqliteStore::open(self.db.path()).expect("open sqlite"), log)
    }
    fn durable(&self) -> bool {
        true
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let (st, bad) = LogState::read_store_log(&std::fs::read(self.log_path()).unwrap_or_default());
        assert_eq!(bad, vec![], "every line decodes");
        let store = SqliteStore::open(self.db.path()).expect("open sqlite");
        let counts = store.entity_counts().unwrap();
        assert_eq!((counts.tokens, counts.subscriptions), (st.tokens.len() as u64, st.subs.len() as u64), "{st:?}");
        for (id, t) in &st.tokens {
            let stored = store.get_token(id).unwrap().expect("a logged token is stored");
            // the interval is not kept (`TCRON` with 0, as the reference)
            assert_eq!(t.cron_interval, 0);
            assert_eq!(TokenRec { cron_interval: 0, ..TokenRec::from(stored) }, *t);
        }
        for (id, sub) in &st.subs {
            let (_, stored) = store.get_subscription(id).unwrap().expect("a logged subscription is stored");
            let logged = SubRec { status: stored.status.clone(), service_assoc: stored.service_assoc, ..sub.clone() };
            assert_eq!(SubRec::from(stored), logged);
        }
    }
}

/// A PostgreSQL schema of its own, dropped on drop.
struct Pg {
    config: PgConfig,
}

/// The PostgreSQL URL of the tests, or `None` after printing why they are skipped.
pub(crate) fn pg_url(test: &str) -> Option<String> {
    match std::env::var("NTF_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            // written to the stream directly, so the test harness does not capture it
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test} on PostgreSQL: NTF_TEST_PG_URL is not set \
                 (e.g. postgresql://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

impl Pg {
    fn new(url: String) -> Self {
        Self {
            config: PgConfig::new(url).with_schema(format!("ntf_test_{}", unique())),
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Ok(s) = PgStore::open(self.config.clone()) {
            let _ = s.drop_schema();
        }
    }
}

impl Backend for Pg {
    type S = PgStore;
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn open(&self) -> PgStore {
        PgStore::open(self.config.clone()).expect("open postgres")
    }
    fn durable(&self) -> bool {
        true
    }
}

/// Defines `$name` tests running `$f(&backend)` on each backend.
macro_rules! on_all_backends {
    ($f:ident) => {
        mod $f {
            #[test]
            fn mem() {
                super::$f(&super::Mem);
            }
            #[test]
            fn sqlite() {
                super::$f(&super::Sqlite::new());
            }
            #[test]
            fn logged() {
                super::$f(&super::Logged { db: super::Sqlite::new() });
            }
            #[test]
            fn postgres() {
                if let Some(url) = super::pg_url(stringify!($f)) {
                    super::$f(&super::Pg::new(url));
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Records

fn eid(b: &[u8]) -> NtfEntityId {
    NtfEntityId::new(b.to_vec()).unwrap()
}

/// An APNS device token: the hex text of `t` (as apps send it; the store log's text form
/// reads hex).
fn device(t: &str) -> DeviceToken {
    DeviceToken::new(PushProvider::ApnsTest, hex_text(t)).unwrap()
}

fn hex_text(t: &str) -> Vec<u8> {
    t.bytes().flat_map(|b| format!("{b:02x}").into_bytes()).collect()
}

fn vkey(n: u8) -> AuthPublicKey {
    AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&[n; 32]))).unwrap()
}

fn nkey(n: u8) -> AuthPrivateKey {
    AuthPrivateKey::new(PrivateKey::Ed25519([n; 32])).unwrap()
}

fn server(n: u8) -> SmpServer {
    let hosts = if matches!(n % 2, 0) {
        vec![TransportHost::parse(format!("smp{n}.example.com").as_bytes()).unwrap()]
    } else {
        vec![
            TransportHost::parse(format!("10.0.0.{n}").as_bytes()).unwrap(),
            TransportHost::parse(b"abcdefghijklmnop.onion").unwrap(),
        ]
    };
    SmpServer::new(hosts, "5223", KeyHash::new(vec![n; 32]).unwrap()).unwrap()
}

fn queue(srv: u8, nid: &[u8]) -> SmpQueueNtf {
    SmpQueueNtf::new(server(srv), nid.to_vec()).unwrap()
}

fn token(id: &[u8], dev: &str, key: u8) -> TokenRecord {
    TokenRecord {
        id: eid(id),
        token: device(dev),
        status: NtfTknStatus::Registered,
        verify_key: vkey(key),
        dh_private: [key; 32],
        dh_secret: [key.wrapping_add(1); 32],
        reg_code: NtfRegCode::new(vec![key; 32]).unwrap(),
        cron_interval: 0,
        cron_sent_at: None,
        updated_at: Some(1_700_006_400),
    }
}

fn sub(id: &[u8], tkn: &[u8], q: SmpQueueNtf) -> SubscriptionRecord {
    SubscriptionRecord {
        id: eid(id),
        token_id: eid(tkn),
        queue: q,
        notifier_key: nkey(id.first().copied().unwrap_or(1)).into(),
        status: NtfSubStatus::New,
        service_assoc: false,
    }
}

fn ntf(q: SmpQueueNtf, ts: i64, n: u8) -> PnMessageData {
    PnMessageData::new(q, ts, [n; 24], vec![n; 40]).unwrap()
}

/// Changes in id order, in the order made for one id (a backend may return a batch of
/// distinct ids in any order).
fn sorted_changes(mut v: Vec<SubStatusChange>) -> Vec<SubStatusChange> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn change(id: &[u8], status: NtfSubStatus, service_assoc: bool) -> SubStatusChange {
    SubStatusChange { id: eid(id), status, service_assoc }
}

fn sorted_queues(mut v: Vec<SmpQueueNtf>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<_> = v
        .drain(..)
        .map(|q| (q.server.to_text(), q.notifier_id().to_vec()))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// Behaviour of each method

fn tokens<B: Backend>(b: &B) {
    let mut s = b.open();
    let t1 = token(b"t1", "dev1", 1);
    s.add_token(t1.clone()).unwrap();
    assert_eq!(s.get_token(&eid(b"t1")).unwrap(), Some(t1.clone()));
    assert_eq!(s.get_token(&eid(b"zz")).unwrap(), None);
    // the same id, or the same registration under another id
    assert_eq!(
        s.add_token(token(b"t1", "other", 9)),
        Err(StoreError::Duplicate)
    );
    assert_eq!(
        s.add_token(token(b"t2", "dev1", 1)),
        Err(StoreError::Duplicate)
    );
    // the same device token with another key is another registration
    let t2 = token(b"t2", "dev1", 2);
    s.add_token(t2.clone()).unwrap();
    assert_eq!(
        s.find_token_registration(&device("dev1"), &vkey(2))
            .unwrap(),
        Some(t2.clone())
    );
    assert_eq!(
        s.find_token_registration(&device("dev1"), &vkey(1))
            .unwrap(),
        Some(t1.clone())
    );
    assert_eq!(
        s.find_token_registration(&device("dev1"), &vkey(3))
            .unwrap(),
        None
    );
    let other_provider = DeviceToken::new(PushProvider::ApnsProd, hex_text("dev1")).unwrap();
    assert_eq!(
        s.find_token_registration(&other_provider, &vkey(1))
            .unwrap(),
        None
    );

    s.touch_token(&eid(b"t1"), 1_700_092_800).unwrap();
    assert_eq!(
        s.get_token(&eid(b"t1")).unwrap().unwrap().updated_at,
        Some(1_700_092_800)
    );
    assert_eq!(s.touch_token(&eid(b"zz"), 1), Err(StoreError::NotFound));

    // statuses
    let inv = NtfTknStatus::Invalid(Some(NtInvalidReason::Unregistered));
    assert!(s.update_token_status(&eid(b"t1"), inv).unwrap());
    assert_eq!(s.get_token(&eid(b"t1")).unwrap().unwrap().status, inv);
    // the same status again: no change
    assert!(!s.update_token_status(&eid(b"t1"), inv).unwrap());
    assert!(!s.update_token_status(&eid(b"zz"), inv).unwrap());
    assert!(s.set_token_confirmed(&eid(b"t1")).unwrap());
    assert!(!s.set_token_confirmed(&eid(b"t1")).unwrap());
    assert_eq!(
        s.get_token(&eid(b"t1")).unwrap().unwrap().status,
        NtfTknStatus::Confirmed
    );
    // a device token of its own: a store log read back makes ACTIVE the one token of its
    // device token (the reference's replay of `TSTATUS ACTIVE`, `setTokenActive`)
    s.add_token(token(b"t3", "dev3", 3)).unwrap();
    s.update_token_status(&eid(b"t3"), NtfTknStatus::Active)
        .unwrap();
    assert!(!s.set_token_confirmed(&eid(b"t3")).unwrap());
    assert_eq!(
        s.get_token(&eid(b"t3")).unwrap().unwrap().status,
        NtfTknStatus::Active
    );
    assert!(!s.set_token_confirmed(&eid(b"zz")).unwrap());

    // cron
    s.update_token_cron_interval(&eid(b"t2"), 30).unwrap();
    assert_eq!(
        s.update_token_cron_interval(&eid(b"zz"), 30),
        Err(StoreError::NotFound)
    );
    s.update_token_cron_sent_at(&eid(b"t2"), 1_700_000_123)
        .unwrap();
    s.update_token_cron_sent_at(&eid(b"zz"), 1).unwrap();
    let t = s.get_token(&eid(b"t2")).unwrap().unwrap();
    assert_eq!((t.cron_interval, t.cron_sent_at), (30, Some(1_700_000_123)));

    if b.durable() {
        drop(s);
        let s = b.open();
        assert_eq!(s.get_token(&eid(b"t2")).unwrap(), Some(t));
        assert_eq!(
            s.get_token(&eid(b"t1")).unwrap().unwrap().status,
            NtfTknStatus::Confirmed
        );
    }
}
on_all_backends!(tokens);

fn replace_token<B: Backend>(b: &B) {
    let mut s = b.open();
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    s.add_token(token(b"t2", "dev2", 1)).unwrap();
    s.add_token(token(b"t3", "dev3", 3)).unwrap();
    let code = NtfRegCode::new(vec![7; 32]).unwrap();
    assert_eq!(
        s.replace_token(
            &eid(b"zz"),
            device("x"),
            NtfTknStatus::Registered,
            code.clone()
        ),
        Err(StoreError::NotFound)
    );
    // (dev2, key 1) is t2's
    assert_eq!(
        s.replace_token(
            &eid(b"t1"),
            device("dev2"),
            NtfTknStatus::Registered,
            code.clone()
        ),
        Err(StoreError::Duplicate)
    );
    s.update_token_status(&eid(b"t1"), NtfTknStatus::Active)
        .unwrap();
    // (dev3, key 1) is free: dev3 belongs to t3 with key 3
    s.replace_token(
        &eid(b"t1"),
        device("dev3"),
        NtfTknStatus::Registered,
        code.clone(),
    )
    .unwrap();
    let t = s.get_token(&eid(b"t1")).unwrap().unwrap();
    assert_eq!(
        (t.token, t.status, t.reg_code),
        (device("dev3"), NtfTknStatus::Registered, code)
    );
    assert_eq!(
        s.find_token_registration(&device("dev1"), &vkey(1))
            .unwrap(),
        None
    );
    assert_eq!(
        s.find_token_registration(&device("dev3"), &vkey(1))
            .unwrap()
            .map(|t| t.id),
        Some(eid(b"t1"))
    );
}
on_all_backends!(replace_token);

fn token_deletion<B: Backend>(b: &B) {
    let mut s = b.open();
    // three registrations of dev1, one of dev2
    for (id, dev, k) in [
        (&b"a"[..], "dev1", 1),
        (b"b", "dev1", 2),
        (b"c", "dev1", 3),
        (b"d", "dev2", 4),
    ] {
        s.add_token(token(id, dev, k)).unwrap();
    }
    s.add_subscription(sub(b"sa", b"a", queue(1, b"qa")))
        .unwrap();
    s.add_subscription(sub(b"sb1", b"b", queue(1, b"qb1")))
        .unwrap();
    s.add_subscription(sub(b"sb2", b"b", queue(2, b"qb2")))
        .unwrap();
    s.add_subscription(sub(b"sc", b"c", queue(2, b"qc")))
        .unwrap();
    s.add_subscription(sub(b"sd", b"d", queue(2, b"qd")))
        .unwrap();
    s.update_token_status(&eid(b"b"), NtfTknStatus::Active)
        .unwrap();
    s.add_last_notification(&eid(b"b"), &eid(b"sb1"), ntf(queue(1, b"qb1"), 10, 1), 6)
        .unwrap();

    assert_eq!(s.set_token_active(&eid(b"zz")), Err(StoreError::NotFound));
    // a becomes ACTIVE: b and c (same device token) go with their subscriptions
    let gone = s.set_token_active(&eid(b"a")).unwrap();
    assert!(gone.status_changed);
    let mut deleted = gone.deleted_tokens.clone();
    deleted.sort();
    assert_eq!(deleted, vec![eid(b"b"), eid(b"c")]);
    assert_eq!(
        sorted_queues(gone.queues),
        sorted_queues(vec![queue(1, b"qb1"), queue(2, b"qb2"), queue(2, b"qc")])
    );
    assert_eq!(
        s.get_token(&eid(b"a")).unwrap().unwrap().status,
        NtfTknStatus::Active
    );
    for id in [&b"b"[..], b"c"] {
        assert_eq!(s.get_token(&eid(id)).unwrap(), None);
    }
    for id in [&b"sb1"[..], b"sb2", b"sc"] {
        assert_eq!(s.get_subscription(&eid(id)).unwrap(), None);
    }
    assert_eq!(s.subscription_by_queue(&queue(1, b"qb1")).unwrap(), None);
    // the queue is free again
    assert!(s
        .add_subscription(sub(b"sx", b"a", queue(1, b"qb1")))
        .unwrap());
    // again: nothing else to delete
    assert_eq!(s.set_token_active(&eid(b"a")).unwrap(), TokenActivated::default());

    s.add_last_notification(&eid(b"a"), &eid(b"sa"), ntf(queue(1, b"qa"), 10, 2), 6)
        .unwrap();
    let gone = s.delete_token(&eid(b"a")).unwrap();
    assert_eq!(
        sorted_queues(gone),
        sorted_queues(vec![queue(1, b"qa"), queue(1, b"qb1")])
    );
    assert_eq!(s.delete_token(&eid(b"a")), Err(StoreError::NotFound));
    assert_eq!(s.get_subscription(&eid(b"sa")).unwrap(), None);
    assert!(s.get_subscription(&eid(b"sd")).unwrap().is_some());
    assert_eq!(s.delete_token(&eid(b"d")).unwrap(), vec![queue(2, b"qd")]);

    if b.durable() {
        drop(s);
        let s = b.open();
        for id in [&b"a"[..], b"b", b"c", b"d"] {
            assert_eq!(s.get_token(&eid(id)).unwrap(), None);
        }
        assert_eq!(s.subscription_by_queue(&queue(2, b"qd")).unwrap(), None);
    }
}
on_all_backends!(token_deletion);

fn periodic<B: Backend>(b: &B) {
    let mut s = b.open();
    let now = 1_700_000_000;
    // (id, status active, interval, sent_at)
    let cases: [(&[u8], bool, u16, Option<i64>); 6] = [
        (b"due", true, 20, Some(now - 20 * 60 - 1)),
        (b"edge", true, 20, Some(now - 20 * 60)),
        (b"recent", true, 60, Some(now - 100)),
        (b"never", true, 20, None),
        (b"off", true, 0, Some(0)),
        (b"inactive", false, 20, Some(0)),
    ];
    for (i, (id, active, interval, sent)) in cases.iter().enumerate() {
        s.add_token(token(id, &format!("d{i}"), i as u8)).unwrap();
        if *active {
            s.update_token_status(&eid(id), NtfTknStatus::Active)
                .unwrap();
        }
        s.update_token_cron_interval(&eid(id), *interval).unwrap();
        if let Some(t) = sent {
            s.update_token_cron_sent_at(&eid(id), *t).unwrap();
        }
    }
    let ids = |v: Vec<TokenRecord>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.periodic_tokens(now, false).unwrap()),
        vec![eid(b"due")]
    );
    assert_eq!(
        ids(s.periodic_tokens(now, true).unwrap()),
        vec![eid(b"due"), eid(b"never")]
    );
    assert_eq!(
        ids(s.periodic_tokens(now + 1, false).unwrap()),
        vec![eid(b"due"), eid(b"edge")]
    );
}
on_all_backends!(periodic);

fn subscriptions<B: Backend>(b: &B) {
    let mut s = b.open();
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    s.add_token(token(b"t2", "dev2", 2)).unwrap();
    let s1 = sub(b"s1", b"t1", queue(1, b"n1"));
    assert_eq!(
        s.add_subscription(sub(b"s0", b"zz", queue(1, b"n0"))),
        Err(StoreError::NotFound)
    );
    assert!(s.add_subscription(s1.clone()).unwrap());
    assert_eq!(
        s.add_subscription(sub(b"s1", b"t2", queue(2, b"n9"))),
        Err(StoreError::Duplicate)
    );
    // the queue has a subscription, of whichever token
    assert!(!s
        .add_subscription(sub(b"s2", b"t2", queue(1, b"n1")))
        .unwrap());
    // the same notifier id on another server is another queue
    let s2 = SubscriptionRecord {
        service_assoc: true,
        status: NtfSubStatus::Err(vec![b'x', 0xff, b' ', 0x80]),
        ..sub(b"s2", b"t2", queue(2, b"n1"))
    };
    assert!(s.add_subscription(s2.clone()).unwrap());
    let t1 = s.get_token(&eid(b"t1")).unwrap().unwrap();
    assert_eq!(
        s.get_subscription(&eid(b"s1")).unwrap(),
        Some((t1, s1.clone()))
    );
    assert_eq!(
        s.get_subscription(&eid(b"s2")).unwrap().map(|x| x.1),
        Some(s2.clone())
    );
    assert_eq!(s.get_subscription(&eid(b"zz")).unwrap(), None);
    assert_eq!(s.subscription_by_queue(&queue(1, b"n1")).unwrap(), Some(s1));
    assert_eq!(s.subscription_by_queue(&queue(2, b"n1")).unwrap(), Some(s2));
    assert_eq!(s.subscription_by_queue(&queue(3, b"n1")).unwrap(), None);
    assert_eq!(s.subscription_by_queue(&queue(1, b"n2")).unwrap(), None);

    s.delete_subscription(&eid(b"s1")).unwrap();
    assert_eq!(
        s.delete_subscription(&eid(b"s1")),
        Err(StoreError::NotFound)
    );
    assert_eq!(s.subscription_by_queue(&queue(1, b"n1")).unwrap(), None);
    assert!(s
        .add_subscription(sub(b"s3", b"t2", queue(1, b"n1")))
        .unwrap());
}
on_all_backends!(subscriptions);

fn statuses<B: Backend>(b: &B) {
    let mut s = b.open();
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    for (id, nid) in [(&b"s1"[..], &b"n1"[..]), (b"s2", b"n2"), (b"s3", b"n3")] {
        s.add_subscription(sub(id, b"t1", queue(1, nid))).unwrap();
    }
    s.add_subscription(sub(b"s4", b"t1", queue(2, b"n1")))
        .unwrap();
    let up = |v: &[(&[u8], NtfSubStatus)]| -> Vec<(Vec<u8>, NtfSubStatus)> {
        v.iter().map(|(n, st)| (n.to_vec(), st.clone())).collect()
    };
    let srv = server(1);
    let changed = s
        .set_subscription_statuses(
            &srv,
            &up(&[
                (b"n1", NtfSubStatus::Active),
                (b"n2", NtfSubStatus::New),
                (b"nx", NtfSubStatus::Active),
                (b"n3", NtfSubStatus::Err(b"oops".to_vec())),
            ]),
        )
        .unwrap();
    assert_eq!(
        sorted_changes(changed),
        vec![change(b"s1", NtfSubStatus::Active, false), change(b"s3", NtfSubStatus::Err(b"oops".to_vec()), false)]
    );
    // a repeated notifier id: applied in order
    assert_eq!(
        s.set_subscription_statuses(
            &srv,
            &up(&[(b"n1", NtfSubStatus::End), (b"n1", NtfSubStatus::Auth)])
        )
        .unwrap(),
        vec![change(b"s1", NtfSubStatus::End, false), change(b"s1", NtfSubStatus::Auth, false)]
    );
    assert_eq!(
        s.set_subscription_statuses(&server(7), &up(&[(b"n1", NtfSubStatus::End)]))
            .unwrap(),
        vec![]
    );
    // a relay's batch answer: counted, not collected
    assert_eq!(s.batch_subscription_statuses(&srv, &up(&[(b"n2", NtfSubStatus::Active), (b"n3", NtfSubStatus::Active)])).unwrap(), 2);
    assert_eq!(s.batch_subscription_statuses(&srv, &up(&[(b"n2", NtfSubStatus::New), (b"n3", NtfSubStatus::Err(b"oops".to_vec()))])).unwrap(), 2);
    let st = |s: &B::S, id: &[u8]| s.get_subscription(&eid(id)).unwrap().unwrap().1.status;
    assert_eq!(st(&s, b"s1"), NtfSubStatus::Auth);
    assert_eq!(st(&s, b"s2"), NtfSubStatus::New);
    assert_eq!(st(&s, b"s3"), NtfSubStatus::Err(b"oops".to_vec()));
    assert_eq!(st(&s, b"s4"), NtfSubStatus::New);
    if b.durable() {
        drop(s);
        let s = b.open();
        assert_eq!(st(&s, b"s1"), NtfSubStatus::Auth);
        assert_eq!(st(&s, b"s3"), NtfSubStatus::Err(b"oops".to_vec()));
    }
}
on_all_backends!(statuses);

fn resubscription<B: Backend>(b: &B) {
    let mut s = b.open();
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    let all = [
        NtfSubStatus::New,
        NtfSubStatus::Pending,
        NtfSubStatus::Active,
        NtfSubStatus::Inactive,
        NtfSubStatus::End,
        NtfSubStatus::Deleted,
        NtfSubStatus::Auth,
        NtfSubStatus::Service,
        NtfSubStatus::Err(b"e".to_vec()),
    ];
    // server 1: one subscription per status (ids s0..s8), and one associated with a service
    for (i, st) in all.iter().enumerate() {
        let id = format!("s{i}");
        let nid = format!("n{i}");
        s.add_subscription(SubscriptionRecord {
            status: st.clone(),
            ..sub(id.as_bytes(), b"t1", queue(1, nid.as_bytes()))
        })
        .unwrap();
    }
    s.add_subscription(SubscriptionRecord {
        service_assoc: true,
        ..sub(b"s9", b"t1", queue(1, b"n9"))
    })
    .unwrap();
    // server 2: nothing to subscribe; server 3: only a service-associated one
    s.add_subscription(SubscriptionRecord {
        status: NtfSubStatus::End,
        ..sub(b"x1", b"t1", queue(2, b"n1"))
    })
    .unwrap();
    s.add_subscription(SubscriptionRecord {
        service_assoc: true,
        ..sub(b"y1", b"t1", queue(3, b"n1"))
    })
    .unwrap();
    let mut used: Vec<_> = s
        .used_smp_servers()
        .unwrap()
        .iter()
        .map(SmpServer::to_text)
        .collect();
    used.sort();
    let mut want = vec![server(1).to_text(), server(3).to_text()];
    want.sort();
    assert_eq!(used, want);

    // pages of 2 in id order
    let mut got = Vec::new();
    let mut after: Option<NtfEntityId> = None;
    loop {
        let page = s
            .take_server_subscriptions(&server(1), after.as_ref(), 2)
            .unwrap();
        assert!(page.len() <= 2);
        assert!(page.iter().all(|r| r.status == NtfSubStatus::Pending));
        after = page.last().map(|r| r.id.clone());
        let n = page.len();
        got.extend(page);
        if n < 2 {
            break;
        }
    }
    let ids: Vec<_> = got.iter().map(|r| r.id.clone()).collect();
    let want: Vec<_> = all
        .iter()
        .enumerate()
        .filter(|(_, st)| st.should_subscribe())
        .map(|(i, _)| eid(format!("s{i}").as_bytes()))
        .collect();
    assert_eq!(ids, want);
    assert_eq!(got[0].notifier_key, nkey(b's').into());
    // the public key is stored with the private one and read back, not derived again
    assert_eq!(got[0].notifier_key.ed25519_public(), Some(&ed25519_public(&[b's'; 32])));
    assert_eq!(got[0].queue, queue(1, b"n0"));
    assert!(s
        .take_server_subscriptions(&server(2), None, 10)
        .unwrap()
        .is_empty());
    assert!(s
        .take_server_subscriptions(&server(3), None, 10)
        .unwrap()
        .is_empty());
    assert!(s
        .take_server_subscriptions(&server(9), None, 10)
        .unwrap()
        .is_empty());
    let check = |s: &B::S| {
        for (i, st) in all.iter().enumerate() {
            let r = s
                .get_subscription(&eid(format!("s{i}").as_bytes()))
                .unwrap()
                .unwrap()
                .1;
            let want = if st.should_subscribe() {
                NtfSubStatus::Pending
            } else {
                st.clone()
            };
            assert_eq!(r.status, want, "s{i}");
        }
        let r = s.get_subscription(&eid(b"s9")).unwrap().unwrap().1;
        assert_eq!(r.status, NtfSubStatus::New);
    };
    check(&s);
    if b.durable() {
        drop(s);
        check(&b.open());
    }
}
on_all_backends!(resubscription);

/// The service association (`getUsedSMPServers`' service part, `batchUpdateSrvSubStatus` with a
/// service id, `removeServiceAssociation`), kept across a reopen.
fn service_association<B: Backend>(b: &B) {
    let mut s = b.open();
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    for i in 1..=4u8 {
        let id = [b's', b'0' + i];
        let nid = [b'n', b'0' + i];
        s.add_subscription(sub(&id, b"t1", queue(1, &nid))).unwrap();
    }
    s.add_subscription(sub(b"x1", b"t1", queue(2, b"n1"))).unwrap();
    let st = |s: &B::S, id: &[u8]| s.get_subscription(&eid(id)).unwrap().unwrap().1;
    assert_eq!(s.server_service(&server(1)).unwrap(), None);
    assert_eq!(s.server_service(&server(9)).unwrap(), None);

    // NSUB in a service session: n1..n3 associated and ACTIVE, the unknown id skipped
    let ids = vec![b"n1".to_vec(), b"n2".to_vec(), b"n3".to_vec(), b"zz".to_vec()];
    assert_eq!(s.set_service_subscriptions(&server(1), b"svc-1", &ids, NtfSubStatus::Active).unwrap(), 3);
    // repeating changes nothing
    assert_eq!(s.set_service_subscriptions(&server(1), b"svc-1", &ids, NtfSubStatus::Active).unwrap(), 0);
    let svc = |n| Some(ServerService { service_id: b"svc-1".to_vec(), count: n });
    assert_eq!(s.server_service(&server(1)).unwrap(), svc(3));
    assert_eq!(s.server_service(&server(2)).unwrap(), None);
    assert!(st(&s, b"s1").service_assoc && st(&s, b"s1").status == NtfSubStatus::Active);
    assert!(!st(&s, b"s4").service_assoc && st(&s, b"s4").status == NtfSubStatus::New);
    // the one-by-one resubscription skips the associated ones
    let page = s.take_server_subscriptions(&server(1), None, 10).unwrap();
    assert_eq!(page.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![eid(b"s4")]);

    // a deleted queue leaves the count
    s.set_subscription_statuses(&server(1), &[(b"n3".to_vec(), NtfSubStatus::Deleted)]).unwrap();
    assert_eq!(s.server_service(&server(1)).unwrap(), svc(2));
    assert_eq!(st(&s, b"s3").status, NtfSubStatus::Deleted);
    assert_eq!(st(&s, b"s4").status, NtfSubStatus::Pending);
    assert_eq!(st(&s, b"x1").status, NtfSubStatus::New);
    // durable
    let mut s = if b.durable() {
        drop(s);
        b.open()
    } else {
        s
    };
    assert_eq!(s.server_service(&server(1)).unwrap(), svc(2));
    assert!(st(&s, b"s1").service_assoc);

    // removed: no service id, nothing associated, the ones to subscribe INACTIVE
    assert_eq!(
        sorted_changes(s.remove_service_association(&server(1)).unwrap()),
        vec![
            change(b"s1", NtfSubStatus::Inactive, false),
            change(b"s2", NtfSubStatus::Inactive, false),
            change(b"s3", NtfSubStatus::Deleted, false),
        ]
    );
    assert_eq!(s.server_service(&server(1)).unwrap(), None);
    for (id, want) in [
        (&b"s1"[..], NtfSubStatus::Inactive),
        (b"s2", NtfSubStatus::Inactive),
        (b"s3", NtfSubStatus::Deleted),
        (b"s4", NtfSubStatus::Pending),
    ] {
        let r = st(&s, id);
        assert!(!r.service_assoc, "{id:?}");
        assert_eq!(r.status, want, "{id:?}");
    }
    let page = s.take_server_subscriptions(&server(1), None, 10).unwrap();
    let ids: Vec<_> = page.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, vec![eid(b"s1"), eid(b"s2"), eid(b"s4")]);
    assert_eq!(s.remove_service_association(&server(1)).unwrap(), vec![]);
}
on_all_backends!(service_association);

/// `getEntityCounts`: tokens and last notifications counted; subscriptions counted except on
/// PostgreSQL, where they are the planner's estimate (no more than there are).
fn entity_counts<B: Backend>(b: &B) {
    let mut s = b.open();
    assert_eq!(s.entity_counts().unwrap(), EntityCounts::default());
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    s.add_token(token(b"t2", "dev2", 2)).unwrap();
    for i in 0..3u8 {
        s.add_subscription(sub(&[b's', i], b"t1", queue(1, &[b'n', i]))).unwrap();
    }
    for i in 0..2u8 {
        s.add_last_notification(&eid(b"t1"), &eid(&[b's', i]), ntf(queue(1, &[b'n', i]), 100, i), 5).unwrap();
    }
    let c = s.entity_counts().unwrap();
    assert_eq!((c.tokens, c.last_notifications), (2, 2), "{}", b.name());
    if b.name() == "postgres" {
        assert!(c.subscriptions <= 3, "{c:?}");
    } else {
        assert_eq!(c.subscriptions, 3, "{}", b.name());
    }
    s.delete_token(&eid(b"t2")).unwrap();
    assert_eq!(s.entity_counts().unwrap().tokens, 1);
}

fn last_notifications<B: Backend>(b: &B) {
    let mut s = b.open();
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    s.add_token(token(b"t2", "dev2", 2)).unwrap();
    for i in 0..5u8 {
        let id = [b's', i];
        s.add_subscription(sub(&id, b"t1", queue(1, &[b'n', i])))
            .unwrap();
    }
    s.add_subscription(sub(b"u", b"t2", queue(1, b"u")))
        .unwrap();
    let add = |s: &mut B::S, i: u8, ts: i64, n: u8, max: usize| {
        s.add_last_notification(
            &eid(b"t1"),
            &eid(&[b's', i]),
            ntf(queue(1, &[b'n', i]), ts, n),
            max,
        )
        .unwrap()
    };
    assert_eq!(
        add(&mut s, 0, 100, 1, 3),
        vec![ntf(queue(1, b"n\x00"), 100, 1)]
    );
    add(&mut s, 1, 90, 2, 3);
    let l = add(&mut s, 2, 110, 3, 3);
    assert_eq!(
        l.iter().map(|n| n.ts).collect::<Vec<_>>(),
        vec![90, 100, 110]
    );
    // a fourth drops the oldest
    let l = add(&mut s, 3, 120, 4, 3);
    assert_eq!(
        l.iter().map(|n| n.ts).collect::<Vec<_>>(),
        vec![100, 110, 120]
    );
    // a newer one of subscription 0 replaces its older one
    let l = add(&mut s, 0, 130, 5, 3);
    assert_eq!(
        l,
        vec![
            ntf(queue(1, b"n\x02"), 110, 3),
            ntf(queue(1, b"n\x03"), 120, 4),
            ntf(queue(1, b"n\x00"), 130, 5)
        ]
    );
    // equal times: the later one is the newer
    let l = add(&mut s, 4, 130, 6, 2);
    assert_eq!(l.iter().map(|n| n.nonce[0]).collect::<Vec<_>>(), vec![5, 6]);
    // max 0 keeps one
    assert_eq!(add(&mut s, 1, 140, 7, 0).len(), 1);
    // other tokens are separate
    let l = s
        .add_last_notification(&eid(b"t2"), &eid(b"u"), ntf(queue(1, b"u"), 1, 8), 6)
        .unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(
        s.add_last_notification(&eid(b"zz"), &eid(b"u"), ntf(queue(1, b"u"), 1, 8), 6),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.add_last_notification(&eid(b"t1"), &eid(b"zz"), ntf(queue(1, b"u"), 1, 8), 6),
        Err(StoreError::NotFound)
    );
    // a deleted subscription's notification goes with it
    add(&mut s, 2, 150, 9, 6);
    s.delete_subscription(&eid(&[b's', 2])).unwrap();
    let l = add(&mut s, 3, 160, 10, 6);
    assert_eq!(
        l.iter().map(|n| n.nonce[0]).collect::<Vec<_>>(),
        vec![7, 10]
    );
    if b.durable() {
        drop(s);
        let mut s = b.open();
        let l = add(&mut s, 4, 170, 11, 6);
        assert_eq!(
            l.iter().map(|n| n.nonce[0]).collect::<Vec<_>>(),
            vec![7, 10, 11]
        );
    }
}
on_all_backends!(last_notifications);
on_all_backends!(entity_counts);

// ---------------------------------------------------------------------------------------
// Differential: random operations on the backend and on MemStore give the same results

fn pick<'a, T>(rng: &mut ChaCha20Rng, v: &'a [T]) -> &'a T {
    &v[(rng.next_u32() as usize) % v.len()]
}

fn differential<B: Backend>(b: &B) {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    let mut m = MemStore::new();
    let mut s = b.open();
    let tids: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b't', i]).collect();
    let sids: Vec<Vec<u8>> = (0..16u8).map(|i| vec![b's', i]).collect();
    let devs = ["d0", "d1", "d2"];
    let tstatuses = [
        NtfTknStatus::New,
        NtfTknStatus::Registered,
        NtfTknStatus::Active,
        NtfTknStatus::Confirmed,
        NtfTknStatus::Expired,
        NtfTknStatus::Invalid(None),
        NtfTknStatus::Invalid(Some(NtInvalidReason::BadToken)),
    ];
    let sstatuses = [
        NtfSubStatus::New,
        NtfSubStatus::Pending,
        NtfSubStatus::Active,
        NtfSubStatus::Inactive,
        NtfSubStatus::End,
        NtfSubStatus::Auth,
        NtfSubStatus::Service,
        NtfSubStatus::Err(b"x".to_vec()),
    ];
    let mut ts = 1_700_000_000i64;
    for step in 0..1500 {
        let tid = eid(pick(&mut rng, &tids).as_slice());
        let sid = eid(pick(&mut rng, &sids).as_slice());
        let srv = (rng.next_u32() % 3) as u8;
        let nid = [b'n', (rng.next_u32() % 6) as u8];
        let k = (rng.next_u32() % 3) as u8;
        let op = rng.next_u32() % 17;
        ts += i64::from(rng.next_u32() % 3);
        let ctx = format!("step {step} op {op} on {}", b.name());
        macro_rules! same {
            ($f:expr) => {{
                let f = $f;
                let a = f(&mut m as &mut dyn Store);
                let c = f(&mut s as &mut dyn Store);
                assert_eq!(a, c, "{ctx}");
            }};
        }
        match op {
            0 | 1 => {
                let dev: &&str = pick(&mut rng, &devs);
                let mut t = token(tid.as_bytes(), dev, k);
                t.dh_private[0] = step as u8;
                same!(|st: &mut dyn Store| st.add_token(t.clone()))
            }
            2 => same!(|st: &mut dyn Store| st.get_token(&tid)),
            3 => {
                let dev: &&str = pick(&mut rng, &devs);
                let d = device(dev);
                same!(|st: &mut dyn Store| st.find_token_registration(&d, &vkey(k)))
            }
            4 => {
                let dev: &&str = pick(&mut rng, &devs);
                let d = device(dev);
                let c = NtfRegCode::new(vec![k; 8]).unwrap();
                same!(|st: &mut dyn Store| st.replace_token(
                    &tid,
                    d.clone(),
                    NtfTknStatus::Registered,
                    c.clone()
                ))
            }
            5 => {
                let t = *pick(&mut rng, &tstatuses);
                same!(|st: &mut dyn Store| st.update_token_status(&tid, t))
            }
            6 => same!(|st: &mut dyn Store| st.set_token_confirmed(&tid)),
            7 => same!(|st: &mut dyn Store| st.set_token_active(&tid).map(|mut a| {
                a.deleted_tokens.sort();
                (a.status_changed, a.deleted_tokens, sorted_queues(a.queues))
            })),
            8 => same!(|st: &mut dyn Store| st.delete_token(&tid).map(sorted_queues)),
            9 => {
                let mins = [0u16, 20, 60][k as usize];
                same!(|st: &mut dyn Store| st.update_token_cron_interval(&tid, mins))
            }
            10 => same!(|st: &mut dyn Store| st.update_token_cron_sent_at(&tid, ts - 3000)),
            11 | 12 => {
                let r = SubscriptionRecord {
                    status: pick(&mut rng, &sstatuses).clone(),
                    service_assoc: k == 0,
                    ..sub(sid.as_bytes(), tid.as_bytes(), queue(srv, &nid))
                };
                same!(|st: &mut dyn Store| st.add_subscription(r.clone()))
            }
            13 => same!(|st: &mut dyn Store| st.delete_subscription(&sid)),
            14 => {
                let ups: Vec<(Vec<u8>, NtfSubStatus)> = (0..3)
                    .map(|i| {
                        (
                            vec![b'n', ((rng.next_u32() + i) % 6) as u8],
                            pick(&mut rng, &sstatuses).clone(),
                        )
                    })
                    .collect();
                if k == 0 {
                    same!(|st: &mut dyn Store| st.batch_subscription_statuses(&server(srv), &ups))
                } else {
                    same!(|st: &mut dyn Store| st.set_subscription_statuses(&server(srv), &ups).map(sorted_changes))
                }
            }
            15 => {
                let q = queue(srv, &nid);
                let r = m.subscription_by_queue(&q).unwrap();
                assert_eq!(r, s.subscription_by_queue(&q).unwrap(), "{ctx}");
                if let Some(r) = r {
                    let n = ntf(q, ts, step as u8);
                    let max = 1 + k as usize;
                    same!(|st: &mut dyn Store| st.add_last_notification(
                        &r.token_id,
                        &r.id,
                        n.clone(),
                        max
                    ))
                }
            }
            _ => {
                let after = (k > 0).then(|| sid.clone());
                same!(|st: &mut dyn Store| st.take_server_subscriptions(
                    &server(srv),
                    after.as_ref(),
                    3
                ))
            }
        }
        if step % 100 == 99 {
            same!(|st: &mut dyn Store| st.periodic_tokens(ts, true));
            same!(|st: &mut dyn Store| st.periodic_tokens(ts, false));
        }
    }
    let state = |st: &dyn Store| {
        let mut v = Vec::new();
        for t in &tids {
            v.push(format!("{:?}", st.get_token(&eid(t)).unwrap()));
        }
        for id in &sids {
            v.push(format!("{:?}", st.get_subscription(&eid(id)).unwrap()));
        }
        let mut used: Vec<_> = st
            .used_smp_servers()
            .unwrap()
            .iter()
            .map(SmpServer::to_text)
            .collect();
        used.sort();
        v.push(format!("{used:?}"));
        v
    };
    let want = state(&m);
    assert!(
        want.iter().any(|l| l.starts_with("Some")),
        "the run made entities"
    );
    assert_eq!(state(&s), want);
    if b.durable() {
        drop(s);
        assert_eq!(state(&b.open()), want, "after reopening");
    }
}
on_all_backends!(differential);

// ---------------------------------------------------------------------------------------
// Schema

#[test]
fn should_subscribe_sql_matches_the_protocol() {
    for st in [
        NtfSubStatus::New,
        NtfSubStatus::Pending,
        NtfSubStatus::Active,
        NtfSubStatus::Inactive,
        NtfSubStatus::End,
        NtfSubStatus::Deleted,
        NtfSubStatus::Auth,
        NtfSubStatus::Service,
        NtfSubStatus::Err(b"x".to_vec()),
    ] {
        let quoted = format!("'{}'", st.keyword());
        assert_eq!(
            SHOULD_SUBSCRIBE_SQL.contains(&quoted),
            st.should_subscribe(),
            "{st}"
        );
    }
}

#[test]
fn sqlite_migrations_and_settings() {
    let b = Sqlite::new();
    let s = b.open();
    let names = s.migrations().unwrap();
    assert_eq!(
        names,
        vec![
            "20250417_initial",
            "20250517_service_cert",
            "rs_20250901_subscriptions_server_order",
            "rs_20261122_notifier_public_key"
        ]
    );
    drop(s);
    // reopening applies nothing twice
    assert_eq!(b.open().migrations().unwrap(), names);
    let c = rusqlite::Connection::open(b.path()).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let cols: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('subscriptions')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        cols,
        vec![
            "subscription_id",
            "token_id",
            "smp_server_id",
            "smp_notifier_id",
            "smp_notifier_key",
            "status",
            "ntf_service_assoc",
            "smp_notifier_public_key"
        ]
    );
    // a newer schema is refused
    c.execute(
        "INSERT INTO schema_version(version, name, applied_at) VALUES (99, 'future', 0)",
        [],
    )
    .unwrap();
    drop(c);
    assert!(matches!(
        SqliteStore::open(b.path()),
        Err(StoreError::Backend(_))
    ));
}

#[test]
fn sqlite_values_use_the_reference_encodings() {
    let b = Sqlite::new();
    let mut s = b.open();
    let mut t = token(b"t1", "dev1", 1);
    t.status = NtfTknStatus::Invalid(Some(NtInvalidReason::ExpiredToken));
    s.add_token(t.clone()).unwrap();
    s.add_subscription(sub(b"s1", b"t1", queue(1, b"n1")))
        .unwrap();
    drop(s);
    let c = rusqlite::Connection::open(b.path()).unwrap();
    let (pp, status, vk, dh): (String, String, Vec<u8>, Vec<u8>) = c
        .query_row(
            "SELECT push_provider, status, verify_key, dh_priv_key FROM tokens",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(pp, "apns_test");
    assert_eq!(status, "INVALID,EXPIRED");
    assert_eq!(vk, t.verify_key.key().to_der());
    assert_eq!(vk.len(), 44, "X.509 Ed25519 public key");
    assert_eq!(dh.len(), 48, "PKCS#8 X25519 private key");
    let (host, port, kh): (String, String, Vec<u8>) = c
        .query_row(
            "SELECT smp_host, smp_port, smp_keyhash FROM smp_servers",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(host, "10.0.0.1,abcdefghijklmnop.onion");
    assert_eq!(port, "5223");
    assert_eq!(kh, b"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_vec());
}

/// The notifier key's public key column (ours): written with the subscription, and derived
/// when a row has none (a row written by the reference, or before the column).
#[test]
fn sqlite_notifier_public_key_is_stored_or_derived() {
    let b = Sqlite::new();
    let mut s = b.open();
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    s.add_subscription(sub(b"s1", b"t1", queue(1, b"n1"))).unwrap();
    s.add_subscription(sub(b"s2", b"t1", queue(1, b"n2"))).unwrap();
    drop(s);
    let c = rusqlite::Connection::open(b.path()).unwrap();
    let stored: Vec<u8> = c
        .query_row(
            "SELECT smp_notifier_public_key FROM subscriptions WHERE subscription_id = ?1",
            [b"s1".as_slice()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, ed25519_public(&[b's'; 32]));
    c.execute(
        "UPDATE subscriptions SET smp_notifier_public_key = NULL WHERE subscription_id = ?1",
        [b"s2".as_slice()],
    )
    .unwrap();
    drop(c);
    let mut s = b.open();
    let got = s.take_server_subscriptions(&server(1), None, 10).unwrap();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.notifier_key.ed25519_public(), Some(&ed25519_public(&[b's'; 32])), "{:?}", r.id);
    }
}

#[test]
fn postgres_migrations_reopen() {
    let Some(url) = pg_url("postgres_migrations_reopen") else {
        return;
    };
    let b = Pg::new(url);
    let s = b.open();
    let names = s.migrations().unwrap();
    assert_eq!(names, vec!["20250417_initial", "20250517_service_cert"]);
    drop(s);
    assert_eq!(b.open().migrations().unwrap(), names);
}

// ---------------------------------------------------------------------------------------
// Crash tests: a child runs the real core on a durable store and prints each acknowledged
// entity; the parent kills it with SIGKILL and checks the store.

const CHILD_ENV: &str = "NTF_STORE_CRASH_CHILD";
const T0: i64 = 1_700_000_000;

fn child_session() -> SessionParams {
    SessionParams::new(Version(3), vec![0x5a; 32], Some([0x42; 32]))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Sends `cmd` signed with Ed25519 `seed`; returns the response and effects.
fn send<S: Store>(
    core: &mut NtfServerCore<S, ChaCha20Rng>,
    seed: &[u8; 32],
    entity: &[u8],
    cmd: &NtfCommand,
) -> (NtfResponse, Vec<Effect>) {
    let p = child_session();
    let tp = p.transmission_params();
    let body = cmd.to_bytes(p.version);
    let fa = ForAuth::new(&tp, b"c", entity, &body);
    let auth = TransmissionAuth::Signature(Signature::Ed25519(sign_ed25519(seed, fa.for_auth())));
    let mut bytes = Vec::new();
    fa.encode(false, Some(&auth), None, &mut bytes);
    let out = core.handle_transmission(T0, &p, &bytes);
    let resp = out.response.to_bytes(&p);
    let raw = RawTransmission::decode(&resp, &tp).expect("response");
    (
        NtfResponse::decode(raw.command, p.version).expect("response"),
        out.effects,
    )
}

/// The child: registers, verifies and subscribes tokens until killed (or 60 s), printing
/// `ACK <kind> ...` after each acknowledged response.
fn run_child<S: Store>(store: S) {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut core = NtfServerCore::new(
        Config::default(),
        store,
        ChaCha20Rng::seed_from_u64(seed ^ 1),
        T0,
    );
    let start = Instant::now();
    let mut i: u64 = 0;
    while start.elapsed() < Duration::from_secs(60) {
        i += 1;
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let mut dh_private = [0u8; 32];
        rng.fill_bytes(&mut dh_private);
        let dev = format!("crash-{seed}-{i}");
        let tnew = NtfCommand::Tnew(NewNtfToken {
            token: device(&dev),
            verify_key: AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&key))).unwrap(),
            dh_key: X25519PublicKey(x25519_public(&dh_private)),
        });
        let (r, effects) = send(&mut core, &key, b"", &tnew);
        let NtfResponse::IdTkn { id, .. } = r else {
            panic!("TNEW: {r:?}")
        };
        println!("ACK T {}", hex(id.as_bytes()));
        let Some(code) = effects.iter().find_map(|e| match e {
            Effect::Push {
                notification: PushNotification::Verification(c),
                ..
            } => Some(c.clone()),
            _ => None,
        }) else {
            panic!("no verification push")
        };
        let (r, _) = send(&mut core, &key, id.as_bytes(), &NtfCommand::Tvfy(code));
        assert_eq!(r, NtfResponse::Ok, "TVFY");
        println!("ACK A {}", hex(id.as_bytes()));
        for j in 0..3u8 {
            let mut nid = [0u8; 24];
            rng.fill_bytes(&mut nid);
            let snew = NtfCommand::Snew(NewNtfSubscription {
                token_id: id.clone(),
                queue: queue(j, &nid),
                notifier_key: nkey(j + 1),
            });
            let (r, _) = send(&mut core, &key, b"", &snew);
            let NtfResponse::IdSub(sid) = r else {
                panic!("SNEW: {r:?}")
            };
            println!("ACK S {} {} {}", hex(sid.as_bytes()), hex(id.as_bytes()), j);
        }
        if matches!(i % 3, 0) {
            let (r, _) = send(
                &mut core,
                &key,
                id.as_bytes(),
                &NtfCommand::Tcrn(20 + i as u16 % 40),
            );
            assert_eq!(r, NtfResponse::Ok, "TCRN");
            println!("ACK C {} {}", hex(id.as_bytes()), 20 + i % 40);
        }
        if matches!(i % 5, 0) {
            let (r, _) = send(&mut core, &key, id.as_bytes(), &NtfCommand::Tdel);
            assert_eq!(r, NtfResponse::Ok, "TDEL");
            println!("ACK D {}", hex(id.as_bytes()));
        }
    }
}

/// The child's entry point (only run by [`crash_test`] with the environment set).
#[test]
#[ignore = "run by the crash tests in a child process"]
fn crash_child() {
    let Ok(target) = std::env::var(CHILD_ENV) else {
        return;
    };
    if let Some(path) = target.strip_prefix("sqlite:") {
        run_child(SqliteStore::open(path).expect("open"));
    } else if let Some(schema) = target.strip_prefix("pg:") {
        let url = std::env::var("NTF_TEST_PG_URL").expect("url");
        run_child(PgStore::open(PgConfig::new(url).with_schema(schema)).expect("open"));
    }
}

/// Runs the child on `target`, kills it after a random number of acknowledgements, and
/// checks every acknowledged entity in `store` (opened after the kill).
fn crash_test<S: Store>(target: &str, rounds: u32, open: impl Fn() -> S) {
    let mut rng = ChaCha20Rng::seed_from_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(3),
    );
    let mut acks: Vec<String> = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::tests::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, target)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let kill_after = 5 + (rng.next_u32() % 150) as usize;
        let mut seen = 0;
        let mut line = String::new();
        while seen < kill_after {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            // libtest may start the line with the test's name
            if let Some(a) = line.trim_end().split_once("ACK ").map(|x| x.1) {
                acks.push(a.to_string());
                seen += 1;
            }
        }
        assert_eq!(seen, kill_after, "round {round}: the child stopped early");
        std::thread::sleep(Duration::from_micros(u64::from(rng.next_u32() % 5000)));
        child.kill().expect("SIGKILL");
        // acknowledgements printed before the kill are still in the pipe
        for l in out.lines() {
            if let Some(a) = l.unwrap().split_once("ACK ").map(|x| x.1) {
                acks.push(a.to_string());
            }
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child was killed");
    }
    // replay the acknowledgements into the expected state
    let mut tokens: BTreeMap<Vec<u8>, (bool, u16)> = BTreeMap::new();
    let mut subs: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut deleted: BTreeSet<Vec<u8>> = BTreeSet::new();
    for a in &acks {
        let f: Vec<&str> = a.split(' ').collect();
        let id = unhex(f[1]);
        match f[0] {
            "T" => {
                tokens.insert(id, (false, 0));
            }
            "A" => tokens.get_mut(&id).expect("registered").0 = true,
            "C" => tokens.get_mut(&id).expect("registered").1 = f[2].parse().unwrap(),
            "S" => {
                subs.insert(id, unhex(f[2]));
            }
            "D" => {
                tokens.remove(&id);
                deleted.insert(id);
            }
            other => panic!("unknown ack {other}"),
        }
    }
    assert!(!tokens.is_empty());
    let s = open();
    for (id, (active, cron)) in &tokens {
        let t = s
            .get_token(&eid(id))
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged token {} lost", hex(id)));
        if *active {
            assert_eq!(t.status, NtfTknStatus::Active, "token {}", hex(id));
        }
        assert_eq!(t.cron_interval, *cron, "token {}", hex(id));
    }
    for id in &deleted {
        assert_eq!(
            s.get_token(&eid(id)).unwrap(),
            None,
            "deleted token {}",
            hex(id)
        );
    }
    let mut live = 0;
    for (sid, tid) in &subs {
        let got = s.get_subscription(&eid(sid)).unwrap();
        if deleted.contains(tid) {
            assert_eq!(got, None, "subscription of a deleted token");
        } else {
            live += 1;
            let (t, r) =
                got.unwrap_or_else(|| panic!("acknowledged subscription {} lost", hex(sid)));
            assert_eq!(t.id, eid(tid));
            assert_eq!(r.token_id, eid(tid));
        }
    }
    println!(
        "crash test on {target}: {rounds} kills, {} acknowledgements, {} tokens, {live} subscriptions checked",
        acks.len(),
        tokens.len()
    );
}

#[test]
fn crash_sqlite() {
    let b = Sqlite::new();
    let path = b.path();
    crash_test(&format!("sqlite:{}", path.display()), 4, || b.open());
}

#[test]
fn crash_postgres() {
    let Some(url) = pg_url("crash_postgres") else {
        return;
    };
    let b = Pg::new(url);
    // create the schema before the children race to
    drop(b.open());
    crash_test(&format!("pg:{}", b.config.schema), 3, || b.open());
}

// ---------------------------------------------------------------------------------------
// The store log of a LoggedStore

/// Each call writes exactly the records the reference's `withLog` writes for it, in order;
/// calls that fail or change nothing write none (`logCreateToken`, `logTokenStatus`,
/// `logUpdateToken`, `logTokenCron`, `logDeleteToken`, `logUpdateTokenTime`,
/// `logCreateSubscription`, `logSubscriptionStatus`, `logDeleteSubscription`).
#[test]
fn logged_store_writes_the_references_records() {
    use ntf_proto::store_log::StoreLogRecord as R;
    let l = Logged { db: Sqlite::new() };
    let mut s = l.open();
    let (t1, t2) = (token(b"t1", "dev1", 1), token(b"t2", "dev1", 2));
    s.add_token(t1.clone()).unwrap();
    assert_eq!(s.add_token(t1.clone()), Err(StoreError::Duplicate));
    s.add_token(t2.clone()).unwrap();
    s.touch_token(&eid(b"t1"), 1_700_092_800).unwrap();
    assert!(s.set_token_confirmed(&eid(b"t1")).unwrap());
    assert!(!s.set_token_confirmed(&eid(b"t1")).unwrap());
    assert!(!s.update_token_status(&eid(b"t1"), NtfTknStatus::Confirmed).unwrap());
    s.add_subscription(sub(b"s2", b"t2", queue(1, b"n2"))).unwrap();
    // TVFY: ACTIVE, and t2 (same device token) deleted with its subscription
    let a = s.set_token_active(&eid(b"t1")).unwrap();
    assert_eq!(a.deleted_tokens, vec![eid(b"t2")]);
    let code = NtfRegCode::new(vec![7; 16]).unwrap();
    s.replace_token(&eid(b"t1"), device("dev9"), NtfTknStatus::Registered, code.clone()).unwrap();
    s.update_token_cron_interval(&eid(b"t1"), 20).unwrap();
    s.update_token_cron_sent_at(&eid(b"t1"), 1_700_000_000).unwrap();
    let s1 = sub(b"s1", b"t1", queue(1, b"n1"));
    s.add_subscription(s1.clone()).unwrap();
    // the queue has a subscription: not added
    assert!(!s.add_subscription(sub(b"s9", b"t1", queue(1, b"n1"))).unwrap());
    s.add_subscription(sub(b"s3", b"t1", queue(1, b"n3"))).unwrap();
    let up = |n: &[u8], st: NtfSubStatus| (n.to_vec(), st);
    // NSUB sent: PENDING (logged); the relay's batch answer: ACTIVE (not logged)
    s.set_subscription_statuses(&server(1), &[up(b"n1", NtfSubStatus::Pending), up(b"nx", NtfSubStatus::Pending)]).unwrap();
    s.batch_subscription_statuses(&server(1), &[up(b"n1", NtfSubStatus::Active)]).unwrap();
    assert_eq!(s.take_server_subscriptions(&server(1), None, 10).unwrap().len(), 2);
    // associated as a service (not logged), then the association removed (logged)
    s.set_service_subscriptions(&server(1), b"svc", &[b"n3".to_vec()], NtfSubStatus::Active).unwrap();
    s.remove_service_association(&server(1)).unwrap();
    // END for one queue
    s.set_subscription_statuses(&server(1), &[up(b"n1", NtfSubStatus::End)]).unwrap();
    s.add_last_notification(&eid(b"t1"), &eid(b"s1"), ntf(queue(1, b"n1"), 10, 1), 6).unwrap();
    s.delete_subscription(&eid(b"s1")).unwrap();
    assert_eq!(s.delete_subscription(&eid(b"s1")), Err(StoreError::NotFound));
    s.delete_token(&eid(b"t1")).unwrap();
    assert_eq!(s.delete_token(&eid(b"t1")), Err(StoreError::NotFound));
    assert_eq!(s.log().failures(), 0);
    drop(s);

    let file = std::fs::read(l.log_path()).unwrap();
    let got: Vec<R> = ntf_proto::store_log::lines(&file).map(|l| R::decode(l).unwrap()).collect();
    let want = vec![
        R::CreateToken(TokenRec::from(t1.clone())),
        R::CreateToken(TokenRec::from(t2)),
        R::UpdateTokenTime(eid(b"t1"), 1_700_092_800),
        R::TokenStatus(eid(b"t1"), NtfTknStatus::Confirmed),
        R::CreateSubscription(SubRec::from(sub(b"s2", b"t2", queue(1, b"n2")))),
        R::TokenStatus(eid(b"t1"), NtfTknStatus::Active),
        R::DeleteToken(eid(b"t2")),
        R::UpdateToken(eid(b"t1"), device("dev9"), code),
        // `logTokenCron sl tknId 0`, whatever the interval
        R::TokenCron(eid(b"t1"), 0),
        R::CreateSubscription(SubRec::from(s1)),
        R::CreateSubscription(SubRec::from(sub(b"s3", b"t1", queue(1, b"n3")))),
        R::SubscriptionStatus(eid(b"s1"), NtfSubStatus::Pending, false),
        R::SubscriptionStatus(eid(b"s3"), NtfSubStatus::Inactive, false),
        R::SubscriptionStatus(eid(b"s1"), NtfSubStatus::End, false),
        R::DeleteSubscription(eid(b"s1")),
        R::DeleteToken(eid(b"t1")),
    ];
    assert_eq!(got, want);
    // and `Logged`'s drop reads it back: an empty store, an empty state
}

/// A store log that cannot be written (here the device that is always full): each failed
/// write is counted and logged, and the store calls succeed as before (`withLog_`).
#[test]
fn logged_store_goes_on_when_the_log_fails() {
    let db = Sqlite::new();
    let log = StoreLogWriter::open_append(std::path::Path::new("/dev/full")).unwrap();
    let mut s = LoggedStore::new(SqliteStore::open(db.path()).unwrap(), log);
    s.add_token(token(b"t1", "dev1", 1)).unwrap();
    s.update_token_cron_interval(&eid(b"t1"), 20).unwrap();
    // a read writes nothing
    assert!(s.get_token(&eid(b"t1")).unwrap().is_some());
    assert_eq!(s.log().failures(), 2);
    assert_eq!(s.inner().get_token(&eid(b"t1")).unwrap().unwrap().cron_interval, 20);
}
