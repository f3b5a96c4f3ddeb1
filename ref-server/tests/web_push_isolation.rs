//! A Web Push service that hangs (accepts the request and never answers) or answers slowly
//! does not hold up the server: APNS pushes to other tokens go out at once, and other
//! clients' commands are answered at once, while more Web Push pushes hang than the push
//! worker has APNS slots (`PUSH_CONCURRENCY`).
//!
//! The reference (`ntfPush` on the branch `dev-wp`) delivers every push of its one queue in
//! turn, so a hanging push service stops every push until `http-client`'s timeout; ours keeps
//! Web Push pushes off the APNS slots and bounds them per push service host, each with its
//! deadline (`server::shell::push_worker`, `webpush::client`).

mod common;

use std::time::{Duration, Instant};

use common::AppToken;
use ntf_proto::command::NtfCommand;
use ntf_proto::response::NtfResponse;
use ntf_proto::token::{DeviceToken, NtfTknStatus};
use ntf_proto::webpush::WebPushProvider;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::WebPushKeys;
use ref_server::load::env;
use ref_server::server::shell::PUSH_CONCURRENCY;
use ref_server::webpush::mock::{MockWebPush, WpAnswer};
use smp_proto::keys::AuthPrivateKey;

/// The Web Push deadline of the test server.
const WP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an APNS push or a command may take while Web Push hangs (well under
/// [`WP_TIMEOUT`]: were they queued behind the hanging pushes they would take it).
const QUICK: Duration = Duration::from_millis(1500);

/// `n` WP tokens of `provider` at paths `/push/<prefix><i>`, registered in one batch; their
/// keys and ids.
async fn register_wp(c: &NtfClient, provider: &WebPushProvider, prefix: &str, n: usize) -> Vec<(AuthPrivateKey, Vec<u8>)> {
    let apps: Vec<AppToken> = (0..n)
        .map(|i| {
            let mut a = AppToken::generate();
            let t = WebPushKeys::generate().token(provider.clone(), format!("/push/{prefix}{i}")).unwrap();
            a.new_token.token = DeviceToken::WebPush(t);
            a
        })
        .collect();
    let cmds: Vec<NtfCommand> = apps.iter().map(|a| NtfCommand::Tnew(a.new_token.clone())).collect();
    let batch: Vec<_> = apps.iter().zip(&cmds).map(|(a, c)| (Some(&a.key), &[][..], c)).collect();
    let mut out = Vec::new();
    for (r, a) in c.send_commands(&batch).await.unwrap().into_iter().zip(&apps) {
        match r.unwrap() {
            NtfResponse::IdTkn { id, .. } => out.push((a.key.clone(), id.as_bytes().to_vec())),
            other => panic!("TNEW of a WP token: {other:?}"),
        }
    }
    out
}

async fn status(c: &NtfClient, key: &AuthPrivateKey, id: &[u8]) -> NtfTknStatus {
    let id = ntf_proto::command::NtfEntityId::new(id.to_vec()).unwrap();
    c.tchk(key, &id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_or_slow_web_push_does_not_hold_up_apns_or_other_clients() {
    let apns = env::start_mock().await.unwrap();
    let wp = MockWebPush::start().await.unwrap();
    wp.respond_all(WpAnswer::Hang);
    let server = env::start_ntf_web_push(&apns, &wp, WP_TIMEOUT, ref_server::ntf::MemStore::new()).await.unwrap();
    let cfg = NtfClientConfig::default();
    let a = NtfClient::connect_addr(server.addr, &server.key_hash, &cfg).await.unwrap();
    let b = NtfClient::connect_addr(server.addr, &server.key_hash, &cfg).await.unwrap();

    // client A: more hanging verification pushes than the worker has APNS slots, and a few
    // slow ones (2 s) to another push service host (the same mock reached as `localhost`)
    let hanging_host = wp.provider();
    let slow_host = WebPushProvider::new("localhost", wp.addr().port().to_string()).unwrap();
    for i in 0..10 {
        wp.respond_to(&format!("/push/slow{i}"), WpAnswer::After(Duration::from_secs(2), 201));
    }
    let t0 = Instant::now();
    let hung = register_wp(&a, &hanging_host, "hang", PUSH_CONCURRENCY + 16).await;
    let slow = register_wp(&a, &slow_host, "slow", 10).await;
    // the push service has the requests it may have in flight (16 per host) and sits on them
    let mut seen = 0;
    while seen < 16 + 10 {
        tokio::time::timeout(QUICK, wp.next_push()).await.expect("the Web Push requests reach the push service");
        seen += 1;
    }

    // client B meanwhile: APNS tokens registered, verified and checked, each step quick
    for _ in 0..5 {
        let app = AppToken::generate();
        let t = Instant::now();
        let (id, dh) = tokio::time::timeout(QUICK, b.tnew(&app.key, app.new_token.clone())).await.expect("TNEW answered").unwrap();
        let push = tokio::time::timeout(QUICK, apns.next_push_for(&app.token_text)).await.expect("APNS verification push sent at once");
        let code = common::verification_code(&app.device(&dh), &push);
        tokio::time::timeout(QUICK, b.tvfy(&app.key, &id, code)).await.expect("TVFY answered").unwrap();
        let st = tokio::time::timeout(QUICK, b.tchk(&app.key, &id)).await.expect("TCHK answered").unwrap();
        assert_eq!(st, NtfTknStatus::Active);
        assert!(t.elapsed() < QUICK * 2, "APNS token took {:?}", t.elapsed());
    }
    // client A's own commands are answered too, with its pushes hanging
    let st = tokio::time::timeout(QUICK, async { status(&a, &hung[0].0, &hung[0].1).await }).await.expect("TCHK of A answered");
    assert_eq!(st, NtfTknStatus::Registered);
    assert!(t0.elapsed() < WP_TIMEOUT, "the APNS side finished only after the Web Push deadline: {:?}", t0.elapsed());

    // the slow push service's pushes were delivered (CONFIRMED); the hanging one's end at the
    // deadline, failed, the tokens left REGISTERED
    let deadline = Instant::now() + Duration::from_secs(5);
    for (k, id) in &slow {
        loop {
            let st = status(&a, k, id).await;
            if st == NtfTknStatus::Confirmed {
                break;
            }
            assert!(Instant::now() < deadline, "slow push never delivered: {st}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(WP_TIMEOUT.saturating_sub(t0.elapsed()) + Duration::from_millis(500)).await;
    for (k, id) in hung.iter().step_by(16) {
        assert_eq!(status(&a, k, id).await, NtfTknStatus::Registered);
    }
    // with its requests timed out, a later APNS push still goes at once
    let app = AppToken::generate();
    let (_, _) = b.tnew(&app.key, app.new_token.clone()).await.unwrap();
    tokio::time::timeout(QUICK, apns.next_push_for(&app.token_text)).await.expect("APNS push after the deadline");
    drop((a, b));
    server.shutdown().await;
}
