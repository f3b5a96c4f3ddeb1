//! Replay, selection and `database import|export` (the PostgreSQL tests run when
//! `NTF_TEST_PG_URL` is set and say SKIPPED otherwise).

use std::collections::BTreeSet;

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::store_log::{LastNtfRecord, StoreLogRecord as R, SubRec, TokenRec, LAST_NTFS_FILE, STORE_LOG_FILE};
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus, PushProvider};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};

use super::command::{run, CommandError, DatabaseCommand, DatabaseOptions};
use super::select::select;
use super::state::LogState;
use crate::store::tests::pg_url;
use crate::store::{PgConfig, PgStore};

fn eid(n: u8) -> NtfEntityId {
    NtfEntityId::new(vec![n; 24]).unwrap()
}

fn server(n: u8) -> SmpServer {
    let host = TransportHost::parse(format!("smp{n}.example.com").as_bytes()).unwrap();
    SmpServer::new(vec![host], "5223", KeyHash::new(vec![n; 32]).unwrap()).unwrap()
}

fn queue(srv: u8, n: u8) -> SmpQueueNtf {
    SmpQueueNtf::new(server(srv), vec![n; 24]).unwrap()
}

fn tkn(n: u8, dev: &str, key: u8, status: NtfTknStatus) -> TokenRec {
    TokenRec {
        id: eid(n),
        token: DeviceToken::new(PushProvider::ApnsProd, dev.as_bytes().to_vec()).unwrap(),
        status,
        verify_key: AuthPublicKey::new(PublicKey::Ed25519([key; 32])).unwrap(),
        dh_private: [n; 32],
        dh_secret: [n.wrapping_add(1); 32],
        reg_code: NtfRegCode::new(vec![n; 32]).unwrap(),
        cron_interval: 0,
        updated_at: Some(1_733_443_200),
    }
}

fn sub(n: u8, t: u8, q: SmpQueueNtf, status: NtfSubStatus) -> SubRec {
    SubRec {
        id: eid(n),
        queue: q,
        notifier_key: AuthPrivateKey::new(PrivateKey::Ed25519([n; 32])).unwrap(),
        token_id: eid(t),
        status,
        service_assoc: false,
    }
}

fn file(recs: &[R]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        r.encode(&mut out);
        out.push(b'\n');
    }
    out
}

fn ntf_line(t: u8, q: SmpQueueNtf, ts: i64, n: u8) -> Vec<u8> {
    let ntf = PnMessageData::new(q, ts, [n; 24], vec![n; 40]).unwrap();
    let mut l = LastNtfRecord { token_id: eid(t), ntf }.to_bytes();
    l.push(b'\n');
    l
}

#[test]
fn replay_follows_the_reference_store() {
    let (a, b) = ("aa01", "bb02");
    let log = file(&[
        // two registrations of one device token, one of another
        R::CreateToken(tkn(1, a, 1, NtfTknStatus::Registered)),
        R::CreateToken(tkn(2, a, 2, NtfTknStatus::Registered)),
        R::CreateToken(tkn(3, b, 3, NtfTknStatus::Registered)),
        R::CreateSubscription(sub(10, 2, queue(1, 10), NtfSubStatus::New)),
        R::CreateSubscription(sub(11, 3, queue(1, 11), NtfSubStatus::New)),
        R::CreateSubscription(sub(12, 3, queue(2, 12), NtfSubStatus::New)),
        // stmRemoveInactiveTokenRegistrations: token 2 and its subscription go
        R::TokenStatus(eid(1), NtfTknStatus::Active),
        R::TokenCron(eid(1), 20),
        R::UpdateTokenTime(eid(1), 1_733_529_600),
        // a new device token: REGISTERED again
        R::UpdateToken(eid(3), DeviceToken::new(PushProvider::ApnsDev, b"cc03".to_vec()).unwrap(), NtfRegCode::new(vec![9; 32]).unwrap()),
        R::SubscriptionStatus(eid(11), NtfSubStatus::Active, true),
        R::DeleteSubscription(eid(12)),
        R::SetService(server(1), Some(eid(40))),
        R::SetService(server(2), Some(eid(41))),
        R::SetService(server(2), None),
        // records of unknown entities change nothing
        R::TokenStatus(eid(99), NtfTknStatus::Active),
        R::DeleteSubscription(eid(99)),
    ]);
    let (st, bad) = LogState::read_store_log(&log);
    assert!(bad.is_empty());
    assert_eq!(st.tokens.keys().cloned().collect::<Vec<_>>(), [eid(1), eid(3)]);
    let t1 = &st.tokens[&eid(1)];
    assert_eq!((t1.status, t1.cron_interval, t1.updated_at), (NtfTknStatus::Active, 20, Some(1_733_529_600)));
    let t3 = &st.tokens[&eid(3)];
    assert_eq!(t3.status, NtfTknStatus::Registered);
    assert_eq!(t3.token.apns_token().unwrap(), b"cc03");
    assert_eq!(st.subs.keys().cloned().collect::<Vec<_>>(), [eid(11)]);
    assert!(st.subs[&eid(11)].service_assoc);
    assert_eq!(st.services.len(), 1);
    // the compacted log is what the state is, and replays to itself
    let compacted = st.compacted();
    let (again, _) = LogState::read_store_log(&compacted);
    assert_eq!(again.compacted(), compacted);
    let first: Vec<_> = ntf_proto::store_log::lines(&compacted).map(|l| l[..7].to_vec()).collect();
    assert_eq!(first, [b"TCREATE".to_vec(), b"TCREATE".to_vec(), b"SCREATE".to_vec(), b"SERVICE".to_vec()]);
}

#[test]
fn delete_token_takes_its_subscriptions_and_notifications() {
    let log = file(&[
        R::CreateToken(tkn(1, "aa", 1, NtfTknStatus::Active)),
        R::CreateSubscription(sub(10, 1, queue(1, 10), NtfSubStatus::Active)),
        R::DeleteToken(eid(1)),
        R::CreateToken(tkn(2, "bb", 2, NtfTknStatus::Active)),
    ]);
    let (mut st, _) = LogState::read_store_log(&log);
    assert!(st.subs.is_empty() && st.sub_lookup.is_empty());
    let mut ntfs = ntf_line(1, queue(1, 10), 5, 1);
    ntfs.extend(ntf_line(2, queue(1, 10), 5, 1));
    assert_eq!(st.read_last_ntfs(&ntfs), Ok(2));
    // only the notification of a token that exists is kept (stmStoreTokenLastNtf)
    assert_eq!(st.last_ntfs.keys().cloned().collect::<Vec<_>>(), [eid(2)]);
}

#[test]
fn corrupt_store_log_line_is_skipped_corrupt_last_ntf_line_fails() {
    let mut log = file(&[R::CreateToken(tkn(1, "aa", 1, NtfTknStatus::Active))]);
    log.extend_from_slice(b"TCREATE tknId=garbage\n\nSDELETE !!\n");
    log.extend(file(&[R::CreateToken(tkn(2, "bb", 2, NtfTknStatus::Active))]));
    let (mut st, bad) = LogState::read_store_log(&log);
    assert_eq!(st.tokens.len(), 2);
    assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(bad[0].text, "TCREATE tknId=garbage");
    let mut ntfs = ntf_line(1, queue(1, 10), 5, 1);
    ntfs.extend_from_slice(b"v1 bad\n");
    let e = st.read_last_ntfs(&ntfs).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(st.last_ntfs.is_empty(), "nothing is added from a file with a bad line");
}

#[test]
fn import_selection_drops_duplicates_as_the_reference() {
    let log = file(&[
        // same device token and key: a CONFIRMED one without subscriptions is dropped when
        // another is ACTIVE
        R::CreateToken(tkn(1, "aa", 1, NtfTknStatus::Active)),
        R::CreateToken(tkn(2, "aa", 1, NtfTknStatus::Confirmed)),
        // ... and of CONFIRMED ones only the highest id stays
        R::CreateToken(tkn(3, "bb", 3, NtfTknStatus::Confirmed)),
        R::CreateToken(tkn(4, "bb", 3, NtfTknStatus::Confirmed)),
        R::TokenCron(eid(1), 30),
        // two subscriptions of one queue: the later one stays
        R::CreateSubscription(sub(10, 1, queue(1, 10), NtfSubStatus::Active)),
        R::CreateSubscription(sub(11, 1, queue(1, 10), NtfSubStatus::Active)),
        // a subscription of a missing token
        R::CreateSubscription(sub(12, 9, queue(2, 12), NtfSubStatus::Active)),
    ]);
    let (mut st, _) = LogState::read_store_log(&log);
    let mut ntfs = ntf_line(1, queue(1, 10), 5, 1);
    ntfs.extend(ntf_line(1, queue(1, 10), 6, 2));
    ntfs.extend(ntf_line(4, queue(7, 7), 6, 2));
    st.read_last_ntfs(&ntfs).unwrap();
    let sel = select(&st, &BTreeSet::new());
    let ids: Vec<_> = sel.tokens.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, [eid(1), eid(4)]);
    assert!(sel.tokens.iter().all(|t| t.cron_interval == 0), "intervals are reset");
    assert_eq!(sel.subs.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), [eid(11)]);
    assert_eq!(sel.servers, [server(1)]);
    // one per (token, subscription): the later
    assert_eq!(sel.last_ntfs.len(), 1);
    assert_eq!(sel.last_ntfs[0].2.ts, 6);
    assert_eq!(sel.notes.len(), 6, "{:?}", sel.notes);
    // --skip-tokens applies to duplicate registrations
    // (and a duplicate still counts as the better one when it is skipped)
    let sel = select(&st, &[eid(1)].into_iter().collect());
    assert_eq!(sel.tokens.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), [eid(4)]);
    assert!(sel.notes.iter().any(|n| n.contains("--skip-tokens")));
}

// ------------------------------------------------------------------ the command

/// The INI file the reference's `init` writes, with `[STORE_LOG] enable` set.
fn ini(enable: &str) -> String {
    include_str!("../../../tests/fixtures/reference-init.ini").replace("enable = on", &format!("enable = {enable}"))
}

struct Dirs {
    _tmp: tempfile::TempDir,
    opts: DatabaseOptions,
}

impl Dirs {
    fn new(url: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ntf-server.ini"), ini("on")).unwrap();
        let schema = format!("ntf_test_log_{}_{}", std::process::id(), unique());
        let opts = DatabaseOptions {
            config_dir: tmp.path().into(),
            log_dir: tmp.path().into(),
            pg: PgConfig::new(url).with_schema(schema),
        };
        Self { _tmp: tmp, opts }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.opts.log_dir.join(name)
    }

    fn run(&self, cmd: &DatabaseCommand, answer: &str) -> (Result<(), CommandError>, String) {
        let mut out = Vec::new();
        let r = run(cmd, &self.opts, &mut answer.as_bytes(), &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.opts.log_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        if let Ok(mut c) = super::pg::connect(&self.opts.pg) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.opts.pg.schema));
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

const IMPORT: DatabaseCommand = DatabaseCommand::Import { skip_tokens: BTreeSet::new() };

/// A store log that is its own compaction with cron intervals 0 (what an import keeps), and
/// last notifications in the order an import inserts them (tokens from the highest id down):
/// exporting the import gives both files back byte for byte.
fn fixed_point() -> (Vec<u8>, Vec<u8>) {
    // (not an ERR status: its text swallows what follows, see `ntf_proto::store_log`)
    let ended = sub(12, 2, queue(2, 12), NtfSubStatus::End);
    let mut invalid = tkn(3, "cc", 3, NtfTknStatus::Invalid(Some(ntf_proto::token::NtInvalidReason::Unregistered)));
    invalid.updated_at = None;
    let mut a = sub(10, 1, queue(1, 10), NtfSubStatus::Active);
    a.service_assoc = true;
    let log = file(&[
        R::CreateToken(tkn(1, "aa", 1, NtfTknStatus::Active)),
        R::CreateToken(tkn(2, "bb", 2, NtfTknStatus::Active)),
        R::CreateToken(invalid),
        R::CreateSubscription(a),
        R::CreateSubscription(sub(11, 1, queue(2, 11), NtfSubStatus::Inactive)),
        R::CreateSubscription(ended),
        R::SetService(server(1), Some(eid(40))),
    ]);
    let (state, _) = LogState::read_store_log(&log);
    assert_eq!(String::from_utf8(state.compacted()).unwrap(), String::from_utf8(log.clone()).unwrap(), "the fixture is compacted");
    let mut ntfs = ntf_line(2, queue(2, 12), 1_733_443_300, 3);
    ntfs.extend(ntf_line(1, queue(1, 10), 1_733_443_200, 1));
    ntfs.extend(ntf_line(1, queue(2, 11), 1_733_443_100, 2));
    (log, ntfs)
}

#[test]
fn import_then_export_gives_the_same_files() {
    let Some(url) = pg_url("import_then_export_gives_the_same_files") else { return };
    let d = Dirs::new(&url);
    let (log, ntfs) = fixed_point();
    std::fs::write(d.path(STORE_LOG_FILE), &log).unwrap();
    std::fs::write(d.path(LAST_NTFS_FILE), &ntfs).unwrap();
    let (r, out) = d.run(&IMPORT, "Y\n");
    r.unwrap();
    assert!(out.contains("Import completed: 3 tokens, 3 subscriptions, 1 service associations, 3 last token notifications."), "{out}");
    // the files as the reference leaves them
    let files = d.files();
    assert!(!files.contains(&STORE_LOG_FILE.to_string()) && !files.contains(&LAST_NTFS_FILE.to_string()));
    assert_eq!(std::fs::read(d.path(&format!("{STORE_LOG_FILE}.bak"))).unwrap(), log);
    assert_eq!(std::fs::read(d.path(&format!("{LAST_NTFS_FILE}.bak"))).unwrap(), ntfs);
    let original = files.iter().find(|f| f.starts_with(&format!("{STORE_LOG_FILE}.20"))).expect("timestamped original");
    assert_eq!(std::fs::read(d.path(original)).unwrap(), log);
    // the server's store sees the rows
    let store = PgStore::open(d.opts.pg.clone()).unwrap();
    assert_eq!(store.counts().unwrap(), (3, 3, 3));
    let t = crate::ntf::Store::get_token(&store, &eid(1)).unwrap().unwrap();
    assert_eq!(t.status, NtfTknStatus::Active);
    drop(store);
    // importing again is refused: the schema exists
    std::fs::write(d.path(STORE_LOG_FILE), &log).unwrap();
    let (r, _) = d.run(&IMPORT, "Y\n");
    assert!(r.unwrap_err().0.contains("both"));
    std::fs::remove_file(d.path(STORE_LOG_FILE)).unwrap();
    let (r, _) = d.run(&IMPORT, "Y\n");
    assert!(r.unwrap_err().0.contains("already exists"));
    // export
    let (r, out) = d.run(&DatabaseCommand::Export, "Y\n");
    r.unwrap();
    assert!(out.contains("Export completed: 3 tokens, 3 subscriptions, 1 service associations, 3 last token notifications."), "{out}");
    assert_eq!(String::from_utf8(std::fs::read(d.path(STORE_LOG_FILE)).unwrap()).unwrap(), String::from_utf8(log).unwrap());
    assert_eq!(String::from_utf8(std::fs::read(d.path(LAST_NTFS_FILE)).unwrap()).unwrap(), String::from_utf8(ntfs).unwrap());
    // exporting again is refused: the files exist
    let (r, _) = d.run(&DatabaseCommand::Export, "Y\n");
    assert!(r.unwrap_err().0.contains("both"));
}

fn unchanged(d: &Dirs, log: &[u8], ntfs: &[u8]) {
    assert_eq!(d.files(), ["ntf-server-last-notifications.log", "ntf-server-store.log", "ntf-server.ini"]);
    assert_eq!(std::fs::read(d.path(STORE_LOG_FILE)).unwrap(), log);
    assert_eq!(std::fs::read(d.path(LAST_NTFS_FILE)).unwrap(), ntfs);
    assert!(!super::pg::schema_exists(&d.opts.pg).unwrap(), "no schema was made");
}

#[test]
fn import_refusals_and_bad_input_write_nothing() {
    let Some(url) = pg_url("import_refusals_and_bad_input_write_nothing") else { return };
    let d = Dirs::new(&url);
    let (log, ntfs) = fixed_point();
    // missing files
    let (r, _) = d.run(&IMPORT, "Y\n");
    assert!(r.unwrap_err().0.ends_with("ntf-server-store.log does not exist"));
    std::fs::write(d.path(STORE_LOG_FILE), &log).unwrap();
    let (r, _) = d.run(&IMPORT, "Y\n");
    assert!(r.unwrap_err().0.ends_with("ntf-server-last-notifications.log does not exist"));
    std::fs::write(d.path(LAST_NTFS_FILE), &ntfs).unwrap();
    // not confirmed (only "Y" is)
    for answer in ["", "y\n", "yes\n", "n\n"] {
        let (r, out) = d.run(&IMPORT, answer);
        assert_eq!(r.unwrap_err().0, "The store was not imported.");
        assert!(out.ends_with("Continue (Y/n): "), "{out}");
        unchanged(&d, &log, &ntfs);
    }
    // a corrupt last-notification line stops the import before anything is written
    let mut bad = ntfs.clone();
    bad.extend_from_slice(b"v1 AAAA not a notification\n");
    std::fs::write(d.path(LAST_NTFS_FILE), &bad).unwrap();
    let (r, _) = d.run(&IMPORT, "Y\n");
    assert!(r.unwrap_err().0.contains("ntf-server-last-notifications.log line 4: "));
    unchanged(&d, &log, &bad);
    std::fs::write(d.path(LAST_NTFS_FILE), &ntfs).unwrap();
    // rows that break the schema's constraints: the import fails as a whole and the schema
    // is dropped (two ACTIVE registrations of one device token and key)
    let mut dup = log.clone();
    dup.extend(file(&[R::CreateToken(tkn(4, "aa", 1, NtfTknStatus::Active))]));
    std::fs::write(d.path(STORE_LOG_FILE), &dup).unwrap();
    let (r, _) = d.run(&IMPORT, "Y\n");
    assert!(r.unwrap_err().0.starts_with("cannot insert tokens: "));
    unchanged(&d, &dup, &ntfs);
    // the store log disabled in the INI file
    std::fs::write(d.path(STORE_LOG_FILE), &log).unwrap();
    std::fs::write(d.path("ntf-server.ini"), ini("off")).unwrap();
    let (r, _) = d.run(&IMPORT, "Y\n");
    assert!(r.unwrap_err().0.contains("[STORE_LOG] enable"));
    unchanged(&d, &log, &ntfs);
    // a corrupt store log line is reported and skipped, as the reference
    std::fs::write(d.path("ntf-server.ini"), ini("on")).unwrap();
    let mut skip = log.clone();
    skip.extend_from_slice(b"TSTATUS !!! ACTIVE\n");
    std::fs::write(d.path(STORE_LOG_FILE), &skip).unwrap();
    let (r, out) = d.run(&IMPORT, "Y\n");
    r.unwrap();
    assert!(out.contains("Error parsing log: ") && out.contains(" line 8: "), "{out}");
    assert_eq!(std::fs::read(d.path(&format!("{STORE_LOG_FILE}.bak"))).unwrap(), log);
}

#[test]
fn export_refusals() {
    let Some(url) = pg_url("export_refusals") else { return };
    let d = Dirs::new(&url);
    let (r, _) = d.run(&DatabaseCommand::Export, "Y\n");
    assert!(r.unwrap_err().0.contains("does not exist in the database"));
    PgStore::open(d.opts.pg.clone()).unwrap();
    std::fs::write(d.path(LAST_NTFS_FILE), b"").unwrap();
    let (r, _) = d.run(&DatabaseCommand::Export, "Y\n");
    assert!(r.unwrap_err().0.ends_with("ntf-server-last-notifications.log already exists"));
    std::fs::remove_file(d.path(LAST_NTFS_FILE)).unwrap();
    let (r, _) = d.run(&DatabaseCommand::Export, "n\n");
    assert_eq!(r.unwrap_err().0, "The store was not exported.");
    assert_eq!(d.files(), ["ntf-server.ini"]);
    // an empty schema exports empty files
    let (r, _) = d.run(&DatabaseCommand::Export, "Y\n");
    r.unwrap();
    assert_eq!(std::fs::read(d.path(STORE_LOG_FILE)).unwrap(), b"");
}

#[test]
fn unreachable_database_is_one_line_and_writes_nothing() {
    let d = Dirs::new("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2");
    let (log, ntfs) = fixed_point();
    std::fs::write(d.path(STORE_LOG_FILE), &log).unwrap();
    std::fs::write(d.path(LAST_NTFS_FILE), &ntfs).unwrap();
    for cmd in [IMPORT, DatabaseCommand::Export] {
        let (r, out) = d.run(&cmd, "Y\n");
        let e = r.unwrap_err().0;
        assert!(e.starts_with("cannot connect to PostgreSQL: ") && !e.contains('\n'), "{e}");
        assert!(out.is_empty());
    }
    assert_eq!(std::fs::read(d.path(STORE_LOG_FILE)).unwrap(), log);
    assert_eq!(std::fs::read(d.path(LAST_NTFS_FILE)).unwrap(), ntfs);
}

#[test]
fn not_initialized_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DatabaseOptions {
        config_dir: tmp.path().into(),
        log_dir: tmp.path().into(),
        pg: PgConfig::new("postgresql://postgres@127.0.0.1:1/none"),
    };
    let e = run(&IMPORT, &opts, &mut &b"Y\n"[..], &mut Vec::new()).unwrap_err();
    assert!(e.0.contains("not initialized"), "{e}");
}

#[test]
fn first_start_imports_a_store_log_only_directory_into_sqlite() {
    use crate::ntf::Store as _;
    use super::sqlite::import_if_only_store_log;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("ntf-store.db");
    // nothing to do without a store log
    assert_eq!(import_if_only_store_log(dir, &db), Ok(None));
    let (log, ntfs) = fixed_point();
    std::fs::write(dir.join(STORE_LOG_FILE), &log).unwrap();
    // a corrupt last-notification line: no store, files as they were
    std::fs::write(dir.join(LAST_NTFS_FILE), b"v1 !!\n").unwrap();
    assert!(import_if_only_store_log(dir, &db).unwrap_err().0.contains("line 1"));
    assert!(!db.exists());
    assert_eq!(std::fs::read(dir.join(STORE_LOG_FILE)).unwrap(), log);
    std::fs::write(dir.join(LAST_NTFS_FILE), &ntfs).unwrap();
    let i = import_if_only_store_log(dir, &db).unwrap().unwrap();
    assert_eq!(i.counts, (3, 3, 3));
    let store = crate::store::SqliteStore::open(&db).unwrap();
    assert_eq!(store.counts().unwrap(), (3, 3, 3));
    assert_eq!(store.get_token(&eid(2)).unwrap().unwrap().status, NtfTknStatus::Active);
    assert_eq!(std::fs::read(dir.join(format!("{STORE_LOG_FILE}.bak"))).unwrap(), log);
    assert!(!dir.join(STORE_LOG_FILE).exists() && !dir.join(LAST_NTFS_FILE).exists());
    // the next start has a store: nothing imported again
    std::fs::write(dir.join(STORE_LOG_FILE), &log).unwrap();
    assert_eq!(import_if_only_store_log(dir, &db), Ok(None));
}
