//! The pair suite against our notification server subscribed to our relay.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ntf_check::ntf::NtfEnv;
use ntf_check::pair::{suite, PairEnv};
use ntf_check::report::{self, Summary};
use ntf_check::smp::SmpEnv;
use ntf_check::{run_suite, RunOptions};
use ref_server::server::shell::{self, ShellConfig};
use ref_server::server::subscriber::SubscriberConfig;
use ref_server::smp::core::RelayConfig;
use ref_server::smp::server::SmpRelayServer;
use ref_transport::{ServerCredentials, TlsServerConfig};
use smp_proto::server::{SmpServer, TransportHost};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_pair_passes_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, push, _) = common::mock_and_push(dir.path()).await;
    let (_ca, relay_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let relay = SmpRelayServer::new(&relay_creds, RelayConfig::default()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = l.local_addr().unwrap();
    let relay_task = tokio::spawn(relay.clone().run(l));

    let (_ca, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let key_hash = creds.key_hash();
    let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let subscriber = SubscriberConfig { min_backoff: Duration::from_millis(50), max_backoff: Duration::from_millis(400), ..SubscriberConfig::default() };
    let config = ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(push), subscriber: Some(subscriber), ops: Default::default() };
    let server = shell::start(listener, config, ref_server::ntf::Config::default(), ref_server::ntf::MemStore::new()).unwrap();

    let timeout = Duration::from_secs(5);
    let env = PairEnv {
        ntf: NtfEnv { addr: server.addr, key_hash, timeout, mock: Some(mock) },
        smp: SmpEnv { addr: relay_addr, key_hash: relay.key_hash(), timeout },
        relay: SmpServer::new(vec![TransportHost::Ipv4([127, 0, 0, 1])], relay_addr.port().to_string(), relay.key_hash()).unwrap(),
    };
    let cases = suite();
    let opts = RunOptions { cases: vec![], case_timeout: Duration::from_secs(30), push: true };
    let start = Instant::now();
    let outcomes = run_suite(&cases, &env, &opts).await;
    let table = report::table("pair", "ours", &outcomes, start.elapsed().as_millis() as u64);
    println!("{table}");
    assert_eq!(Summary::of(&outcomes), Summary { passed: cases.len(), failed: 0, skipped: 0 }, "{table}");
    drop(server);
    relay_task.abort();
}
