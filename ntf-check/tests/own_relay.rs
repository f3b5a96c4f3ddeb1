//! The SMP suite against our relay: every case passes, the path at each of its versions.

use std::time::{Duration, Instant};

use ntf_check::report::{self, Summary};
use ntf_check::smp::{offered, suite, SmpEnv};
use ntf_check::{run_suite, RunOptions};
use ref_server::smp::core::RelayConfig;
use ref_server::smp::server::SmpRelayServer;
use ref_transport::ServerCredentials;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_relay_passes_every_case() {
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let relay = SmpRelayServer::new(&creds, RelayConfig::default()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(relay.clone().run(listener));

    let timeout = Duration::from_secs(5);
    let versions = offered(addr, timeout).await.expect("the relay's offer");
    assert_eq!((versions.min().0, versions.max().0), (6, 18));
    let all = suite(versions);
    assert!(all.iter().any(|c| c.id == "smp.path.v6") && all.iter().any(|c| c.id == "smp.path.v18"));
    // the path at the versions where an encoding changes (implied session ids and
    // authenticators v7, DELD v10, block encryption v11, SOK v16, NEW with notifier keys v17,
    // the newest v18); the binary runs it at every offered version
    let keep = ["v6", "v7", "v10", "v11", "v16", "v17", "v18"];
    let cases: Vec<_> = all.into_iter().filter(|c| !c.id.starts_with("smp.path.") || keep.iter().any(|k| c.id.ends_with(k))).collect();
    let env = SmpEnv { addr, key_hash: relay.key_hash(), timeout };
    let opts = RunOptions { cases: vec![], case_timeout: Duration::from_secs(30), push: false };
    let start = Instant::now();
    let outcomes = run_suite(&cases, &env, &opts).await;
    let table = report::table("smp", "ours", &outcomes, start.elapsed().as_millis() as u64);
    println!("{table}");
    assert_eq!(Summary::of(&outcomes), Summary { passed: cases.len(), failed: 0, skipped: 0 }, "{table}");
    task.abort();
}
