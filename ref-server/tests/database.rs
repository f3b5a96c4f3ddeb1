//! `ntf-server database import|export` as an operator runs it: exit codes, one-line errors,
//! nothing written on bad input, and an import exported back to the same file (PostgreSQL
//! tests run when `NTF_TEST_PG_URL` is set and say SKIPPED otherwise).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ntf_proto::command::NtfEntityId;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::store_log::{StoreLogRecord, SubRec, TokenRec};
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus, PushProvider};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};

const BIN: &str = env!("CARGO_BIN_EXE_ntf-server");
const REFERENCE_INIT: &str = include_str!("fixtures/reference-init.ini");

fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn id(n: u8) -> NtfEntityId {
    NtfEntityId::new(vec![n; 24]).unwrap()
}

/// A store log of one token with one subscription (a compacted one: the import keeps it as is).
fn store_log() -> Vec<u8> {
    let host = TransportHost::parse(b"smp.example.com").unwrap();
    let srv = SmpServer::new(vec![host], "5223", KeyHash::new(vec![7; 32]).unwrap()).unwrap();
    let t = TokenRec {
        id: id(1),
        token: DeviceToken::new(PushProvider::ApnsProd, b"0a0b".to_vec()).unwrap(),
        status: NtfTknStatus::Active,
        verify_key: AuthPublicKey::new(PublicKey::Ed25519([2; 32])).unwrap(),
        dh_private: [3; 32],
        dh_secret: [4; 32],
        reg_code: NtfRegCode::new(vec![5; 32]).unwrap(),
        cron_interval: 0,
        updated_at: Some(1_733_443_200),
    };
    let s = SubRec {
        id: id(9),
        queue: SmpQueueNtf::new(srv, vec![8; 24]).unwrap(),
        notifier_key: AuthPrivateKey::new(PrivateKey::Ed25519([6; 32])).unwrap(),
        token_id: id(1),
        status: NtfSubStatus::Active,
        service_assoc: false,
    };
    let mut out = Vec::new();
    for r in [StoreLogRecord::CreateToken(t), StoreLogRecord::CreateSubscription(s)] {
        r.encode(&mut out);
        out.push(b'\n');
    }
    out
}

fn reference_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("ntf-server.ini"), REFERENCE_INIT).unwrap();
    std::fs::write(d.path().join("ntf-server-store.log"), store_log()).unwrap();
    std::fs::write(d.path().join("ntf-server-last-notifications.log"), b"").unwrap();
    d
}

#[test]
fn unreachable_database_and_declined_confirmation_exit_1_and_write_nothing() {
    let d = reference_dir();
    for cmd in ["import", "export"] {
        let o = run(d.path(), &["database", cmd, "-d", "postgresql://postgres@127.0.0.1:1/none", "--yes"], "");
        assert_eq!(o.status.code(), Some(1));
        let e = text(&o.stderr);
        assert!(e.starts_with("error: cannot connect to PostgreSQL: ") && e.trim_end().lines().count() == 1, "{e}");
    }
    assert_eq!(std::fs::read(d.path().join("ntf-server-store.log")).unwrap(), store_log());
    let Some(url) = pg_url("declined confirmation") else { return };
    let schema = format!("ntf_test_cli_{}", std::process::id());
    let o = run(d.path(), &["database", "import", "-d", &url, "--schema", &schema], "n\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).ends_with("Continue (Y/n): "));
    assert_eq!(text(&o.stderr), "error: The store was not imported.\n");
    assert_eq!(std::fs::read(d.path().join("ntf-server-store.log")).unwrap(), store_log());
}

fn pg_url(test: &str) -> Option<String> {
    match std::env::var("NTF_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            let _ = writeln!(std::io::stderr(), "SKIPPED {test} on PostgreSQL: NTF_TEST_PG_URL is not set");
            None
        }
    }
}

#[test]
fn import_then_export_through_the_binary() {
    let Some(url) = pg_url("import_then_export_through_the_binary") else { return };
    let d = reference_dir();
    let schema = format!("ntf_test_cli_ie_{}", std::process::id());
    let o = run(d.path(), &["database", "import", "-d", &url, "--schema", &schema], "Y\n");
    let out = text(&o.stdout);
    let drop_schema = || {
        if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    };
    if o.status.code() != Some(0) {
        drop_schema();
        panic!("import failed: {out} {}", text(&o.stderr));
    }
    assert!(out.contains("Import completed: 1 tokens, 1 subscriptions, 0 service associations, 0 last token notifications."), "{out}");
    assert!(!d.path().join("ntf-server-store.log").exists());
    let o = run(d.path(), &["database", "export", "-d", &url, "--schema", &schema, "--yes"], "");
    let exported = std::fs::read(d.path().join("ntf-server-store.log"));
    drop_schema();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&exported.unwrap()), text(&store_log()));
}
