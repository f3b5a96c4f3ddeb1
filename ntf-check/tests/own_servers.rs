//! The checker against our own notification server (every case passes), and against servers
//! that misbehave (every case fails with a clear line, within its time limits).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ntf_check::ntf::{suite, NtfEnv};
use ntf_check::report::{self, Summary};
use ntf_check::{apns, run_suite, RunOptions, Status};
use ref_server::server::shell::{self, ShellConfig};
use ref_transport::{ServerCredentials, TlsServerConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_passes_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, push, made) = common::mock_and_push(dir.path()).await;
    assert!(made);
    assert!(apns::ca_file(dir.path()).exists());
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let key_hash = creds.key_hash();
    let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(push), subscriber: None, ops: Default::default() };
    let server = shell::start(listener, config, ref_server::ntf::Config::default(), ref_server::ntf::MemStore::new()).unwrap();

    let env = NtfEnv { addr: server.addr, key_hash, timeout: Duration::from_secs(5), mock: Some(mock) };
    let opts = RunOptions { cases: vec![], case_timeout: Duration::from_secs(30), push: true };
    let cases = suite();
    let start = Instant::now();
    let outcomes = run_suite(&cases, &env, &opts).await;
    let ms = start.elapsed().as_millis() as u64;
    let table = report::table("ntf", "ours", &outcomes, ms);
    println!("{table}");
    assert_eq!(outcomes.len(), cases.len());
    assert_eq!(Summary::of(&outcomes), Summary { passed: cases.len(), failed: 0, skipped: 0 }, "{table}");

    // without the mock the push cases are skipped, the others still pass
    let env = NtfEnv { mock: None, ..env };
    let opts = RunOptions { push: false, cases: vec!["ntf.cmd.snew".into(), "ntf.cmd.tchk".into()], ..opts };
    let outcomes = run_suite(&cases, &env, &opts).await;
    let ids: Vec<_> = outcomes.iter().map(|o| (o.id.as_str(), o.status)).collect();
    assert!(ids.contains(&("ntf.cmd.snew", Status::Skip)), "{ids:?}");
    assert!(ids.contains(&("ntf.cmd.snew.repeat", Status::Skip)), "{ids:?}");
    assert!(ids.contains(&("ntf.cmd.tchk.unknown", Status::Pass)), "{ids:?}");
    assert!(!ids.iter().any(|(id, _)| id.starts_with("ntf.cmd.tnew")), "{ids:?}");
    drop(server);
}

/// Runs the cases that do not need a push against `addr` with short limits.
async fn against(addr: std::net::SocketAddr, key_hash: smp_proto::server::KeyHash) -> Vec<ntf_check::Outcome> {
    let env = NtfEnv { addr, key_hash, timeout: Duration::from_millis(500), mock: None };
    let opts = RunOptions {
        cases: vec!["ntf.tls.profile".into(), "ntf.tls.unique".into(), "ntf.hs.v3".into(), "ntf.cmd.ping".into()],
        case_timeout: Duration::from_secs(3),
        push: false,
    };
    run_suite(&suite(), &env, &opts).await
}

#[tokio::test]
async fn garbage_silence_and_early_close_are_failures_not_hangs() {
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let key_hash = creds.key_hash();
    let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();

    // TLS as expected, then a block of garbage instead of the server hello
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_addr = l.local_addr().unwrap();
    let t = tls.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let t = t.clone();
            tokio::spawn(async move {
                if let Ok(mut s) = t.accept(tcp).await {
                    let _ = s.stream.write_all(&[0xAB; 512]).await;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            });
        }
    });
    // TCP accepted, nothing ever sent
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = l.accept().await {
            held.push(tcp);
        }
    });
    // TLS, then the connection closed
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closing_addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let _ = tls.accept(tcp).await;
        }
    });

    let start = Instant::now();
    let garbage = against(garbage_addr, key_hash.clone()).await;
    let silent = against(silent_addr, key_hash.clone()).await;
    let closing = against(closing_addr, key_hash).await;
    // each step is limited to 500 ms; 12 cases of a few steps each
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());

    let status = |os: &[ntf_check::Outcome], id: &str| os.iter().find(|o| o.id == id).map(|o| (o.status, o.detail.clone(), o.seen_hex.clone())).unwrap();
    // the TLS profile is right, the protocol is not
    assert_eq!(status(&garbage, "ntf.tls.profile").0, Status::Pass);
    for id in ["ntf.tls.unique", "ntf.hs.v3", "ntf.cmd.ping"] {
        let (s, detail, seen) = status(&garbage, id);
        assert_eq!(s, Status::Fail, "{id}: {detail}");
        assert!(seen.as_deref().is_some_and(|h| h.starts_with("abab")), "{id}: {detail} {seen:?}");
    }
    for o in &silent {
        assert_eq!(o.status, Status::Fail, "{}: {}", o.id, o.detail);
        assert!(o.detail.contains("no answer") || o.detail.contains("timeout") || o.detail.contains("no result"), "{}: {}", o.id, o.detail);
    }
    for o in closing.iter().filter(|o| o.id != "ntf.tls.profile") {
        assert_eq!(o.status, Status::Fail, "{}: {}", o.id, o.detail);
    }
    let table = report::table("ntf", "garbage", &garbage, 0);
    assert!(table.contains("bytes seen: abab"), "{table}");
}
