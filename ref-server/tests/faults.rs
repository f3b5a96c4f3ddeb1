//! Fault tests on loopback, each bounded in time: a relay killed under load and restarted,
//! push provider failures (503, 410, 429, 400, a hanging answer), clients that send garbage,
//! never finish the handshake or stop reading — and exactly-once delivery in the steady
//! state, counted per message on the mock APNS by decrypting as the device does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ntf_proto::command::{NtfCommand, NtfEntityId};
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{NtInvalidReason, NtfTknStatus};
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::smp::{SmpClient, SmpClientConfig};
use ref_server::apns::mock::{MockApns, MockResponse};
use ref_server::load::env::{self, Relay};
use ref_server::load::fleet::{self, Queue, Token};
use ref_server::load::router::PushRouter;
use ref_server::server::shell::RunningServer;
use ref_transport::{ntf_client_handshake, random_array, TlsClientConfig};
use smp_proto::error_type::ErrorType;
use smp_proto::transmission::{ForAuth, RawTransmission};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Upper bound on each test.
const TEST_CAP: Duration = Duration::from_secs(90);

struct Env {
    mock: Arc<MockApns>,
    router: PushRouter,
    router_task: JoinHandle<()>,
    relay: Relay,
    ntf: RunningServer,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.router_task.abort();
    }
}

/// A subscribed queue: its token (index) and subscription id.
struct Sub {
    token: usize,
    queue: Queue,
    id: NtfEntityId,
}

async fn start() -> Env {
    let mock = Arc::new(env::start_mock().await.unwrap());
    let router = PushRouter::new();
    let router_task = router.start(mock.clone());
    let relay = Relay::start().await.unwrap();
    let ntf = env::start_ntf(&mock, ref_server::ntf::MemStore::new(), None)
        .await
        .unwrap();
    Env {
        mock,
        router,
        router_task,
        relay,
        ntf,
    }
}

impl Env {
    async fn client(&self) -> NtfClient {
        NtfClient::connect_addr(
            self.ntf.addr,
            &self.ntf.key_hash,
            &NtfClientConfig::default(),
        )
        .await
        .unwrap()
    }

    async fn smp(&self) -> Arc<SmpClient> {
        Arc::new(
            SmpClient::connect(&self.relay.smp_server(), &SmpClientConfig::default())
                .await
                .unwrap(),
        )
    }

    /// `tokens` verified tokens with `per_token` subscriptions each, all ACTIVE.
    async fn fleet(
        &self,
        client: &NtfClient,
        smp: &Arc<SmpClient>,
        tokens: usize,
        per_token: usize,
    ) -> (Vec<Token>, Vec<Sub>) {
        let tokens = fleet::register_tokens(client, &self.router, tokens)
            .await
            .unwrap();
        let queues = fleet::create_queues(
            std::slice::from_ref(smp),
            &self.router,
            tokens.len() * per_token,
            8,
        )
        .await
        .unwrap();
        let pairs: Vec<(&Token, &Queue)> = queues
            .iter()
            .enumerate()
            .map(|(i, q)| (&tokens[i % tokens.len()], q))
            .collect();
        let ids = fleet::subscribe(client, &self.relay.smp_server(), &pairs)
            .await
            .unwrap();
        let subs: Vec<Sub> = queues
            .into_iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (queue, id))| Sub {
                token: i % tokens.len(),
                queue,
                id,
            })
            .collect();
        wait_subs(client, &tokens, &subs, NtfSubStatus::Active).await;
        (tokens, subs)
    }
}

/// Waits (at most 20 s) until every subscription has `want`.
async fn wait_subs(client: &NtfClient, tokens: &[Token], subs: &[Sub], want: NtfSubStatus) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let items: Vec<(&smp_proto::keys::AuthPrivateKey, &NtfEntityId)> =
            subs.iter().map(|s| (&tokens[s.token].key, &s.id)).collect();
        let got: Vec<NtfSubStatus> = client
            .schk_many(&items)
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        if got.iter().all(|s| *s == want) {
            return;
        }
        assert!(
            Instant::now() < end,
            "subscriptions never all {want}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most `secs`) until `f` holds.
async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Distinct messages pushed per queue of `subs`.
fn pushed_per_queue(router: &PushRouter, subs: &[Sub]) -> Vec<usize> {
    let (per_queue, _) = router.per_message();
    subs.iter()
        .map(|s| per_queue.get(&s.queue.notifier_id).copied().unwrap_or(0))
        .collect()
}

async fn send_each(smp: &SmpClient, router: &PushRouter, subs: &[Sub]) -> usize {
    let qs: Vec<&Queue> = subs.iter().map(|s| &s.queue).collect();
    fleet::send_messages(smp, router, &qs, b"fault test")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_every_message_is_pushed_exactly_once() {
    tokio::time::timeout(TEST_CAP, async {
        let env = start().await;
        let client = env.client().await;
        let smp = env.smp().await;
        let (_tokens, subs) = env.fleet(&client, &smp, 4, 10).await;
        let rounds = 5;
        let mut accepted = 0;
        for _ in 0..rounds {
            accepted += send_each(&smp, &env.router, &subs).await;
            // a steady trickle rather than one burst
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert_eq!(accepted, rounds * subs.len());
        until(20, "every message pushed", || {
            env.router.counts().messages as usize >= accepted
        })
        .await;
        // no late duplicates either
        tokio::time::sleep(Duration::from_millis(300)).await;
        let counts = env.router.counts();
        assert_eq!(counts.messages as usize, accepted, "{counts:?}");
        assert_eq!(counts.duplicates, 0, "{counts:?}");
        assert_eq!(counts.unreadable, 0, "{counts:?}");
        assert_eq!(env.router.outstanding(), 0);
        let (_, most) = env.router.per_message();
        assert_eq!(most, 1, "a message was pushed more than once");
        assert!(pushed_per_queue(&env.router, &subs)
            .iter()
            .all(|&n| n == rounds));
    })
    .await
    .expect("test time cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_under_load_then_restarted_resubscribes_and_notifies() {
    tokio::time::timeout(TEST_CAP, async {
        let mut env = start().await;
        let client = env.client().await;
        let smp = env.smp().await;
        let (tokens, subs) = env.fleet(&client, &smp, 2, 10).await;
        // load: a message every 5 ms, round robin, until the connection dies (bounded)
        let load = {
            let (smp, router) = (smp.clone(), env.router.clone());
            let qs: Vec<Queue> = subs.iter().map(|s| s.queue.clone()).collect();
            tokio::spawn(async move {
                let mut accepted = 0;
                for i in 0..2000 {
                    match fleet::send_messages(&smp, &router, &[&qs[i % qs.len()]], b"under load")
                        .await
                    {
                        Ok(n) => accepted += n,
                        Err(_) => break,
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                accepted
            })
        };
        until(10, "some pushes under load", || {
            env.router.counts().messages >= 20
        })
        .await;
        env.relay.kill().await;
        let before_kill = load.await.unwrap();
        assert!(before_kill >= 20);
        // the subscriber sees the connection closed: INACTIVE
        wait_subs(&client, &tokens, &subs, NtfSubStatus::Inactive).await;
        env.relay.restart().await.unwrap();
        // the subscriber reconnects (backoff at most 1 s) and subscribes everything again
        wait_subs(&client, &tokens, &subs, NtfSubStatus::Active).await;
        let counts_before = env.router.counts();
        let per_queue_before = pushed_per_queue(&env.router, &subs);
        let smp2 = env.smp().await;
        assert_eq!(send_each(&smp2, &env.router, &subs).await, subs.len());
        until(15, "the messages after the restart pushed", || {
            pushed_per_queue(&env.router, &subs)
                .iter()
                .zip(&per_queue_before)
                .all(|(a, b)| a > b)
        })
        .await;
        let counts = env.router.counts();
        assert!(counts.messages - counts_before.messages >= subs.len() as u64);
        assert_eq!(
            counts.duplicates, 0,
            "no message pushed twice across the restart: {counts:?}"
        );
        // messages accepted before the kill: pushed at most once each (lost NMSGs are the
        // relay's at-most-once delivery of notifications to a dropped connection); one more
        // SEND may have been in flight when the relay died: stored and notified, its OK lost
        assert!(
            counts.messages as usize <= before_kill + 1 + subs.len(),
            "{} pushed, {before_kill} accepted before the kill, {} after: {counts:?}",
            counts.messages,
            subs.len()
        );
    })
    .await
    .expect("test time cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_are_recorded_and_other_tokens_still_served() {
    tokio::time::timeout(TEST_CAP, async {
        let env = start().await;
        let client = env.client().await;
        let smp = env.smp().await;
        // tokens: 0 -> 503, 1 -> 410 Unregistered, 2 -> 429, 3 -> hang, 4 -> 400 BadDeviceToken, 5, 6 -> OK
        let (tokens, subs) = env.fleet(&client, &smp, 7, 1).await;
        let answers = [
            MockResponse::error(503, "ServiceUnavailable"),
            MockResponse::error(410, "Unregistered"),
            MockResponse::error(429, "TooManyRequests"),
            MockResponse::Hang,
            MockResponse::error(400, "BadDeviceToken"),
        ];
        for (t, a) in tokens.iter().zip(answers) {
            env.mock.respond_to(&t.text, a);
        }
        let verified: Vec<u64> = tokens
            .iter()
            .map(|t| env.router.pushes_for(&t.text))
            .collect();
        assert!(
            verified.iter().all(|&n| n == 1),
            "one verification push each: {verified:?}"
        );
        // failing tokens first, so their pushes are in flight when the good ones are sent
        assert_eq!(send_each(&smp, &env.router, &subs).await, subs.len());
        until(10, "pushes to the working tokens", || {
            tokens[5..]
                .iter()
                .all(|t| env.router.pushes_for(&t.text) == 2)
        })
        .await;
        // statuses as the reference maps them
        let status = |i: usize| {
            let (c, t) = (&client, &tokens[i]);
            async move { c.tchk(&t.key, &t.id).await.unwrap() }
        };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let s1 = status(1).await;
            let s4 = status(4).await;
            if s1 == NtfTknStatus::Invalid(Some(NtInvalidReason::Unregistered))
                && s4 == NtfTknStatus::Invalid(Some(NtInvalidReason::BadToken))
            {
                break;
            }
            assert!(Instant::now() < end, "410 / 400 not recorded: {s1} {s4}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // 503 is retried once and then given up; 429 is not retried; both leave the token ACTIVE
        until(10, "the 503 retry", || {
            env.router.pushes_for(&tokens[0].text) == 3
        })
        .await;
        assert_eq!(status(0).await, NtfTknStatus::Active);
        assert_eq!(status(2).await, NtfTknStatus::Active);
        assert_eq!(
            env.router.pushes_for(&tokens[2].text),
            2,
            "429 is not retried"
        );
        // the hanging push is still in flight (request timeout 30 s); the server keeps serving
        assert_eq!(env.router.pushes_for(&tokens[3].text), 2);
        assert_eq!(status(3).await, NtfTknStatus::Active);
        let ok_subs: Vec<Sub> = subs.into_iter().filter(|s| s.token >= 5).collect();
        let before = pushed_per_queue(&env.router, &ok_subs);
        assert_eq!(send_each(&smp, &env.router, &ok_subs).await, ok_subs.len());
        until(10, "later pushes to the working tokens", || {
            pushed_per_queue(&env.router, &ok_subs)
                .iter()
                .zip(&before)
                .all(|(a, b)| *a == b + 1)
        })
        .await;
        let counts = env.router.counts();
        assert_eq!(counts.duplicates, 0);
        // 503 x2, 410, 429, 400 recorded as rejected (the hanging one has no answer yet but
        // is recorded by the mock as Hang)
        assert_eq!(counts.rejected, 6, "{counts:?}");
        // a new token can still register and verify while a push hangs
        let more = fleet::register_tokens(&client, &env.router, 3)
            .await
            .unwrap();
        assert_eq!(more.len(), 3);
        env.mock.close_connections();
    })
    .await
    .expect("test time cap");
}

/// A raw NTF session (TLS and the handshake done) for misbehaving clients.
async fn raw_session(env: &Env) -> ref_transport::NtfSession<TcpStream> {
    let tcp = TcpStream::connect(env.ntf.addr).await.unwrap();
    let tls = TlsClientConfig::new(&[ntf_proto::version::ALPN])
        .unwrap()
        .connect(tcp, &env.ntf.key_hash)
        .await
        .unwrap();
    ntf_client_handshake(tls, &env.ntf.key_hash, ntf_proto::version::SUPPORTED)
        .await
        .unwrap()
}

/// A working client: one token registered and checked, one subscription notified.
async fn others_work(
    env: &Env,
    smp: &SmpClient,
    client: &NtfClient,
    tokens: &[Token],
    subs: &[Sub],
) {
    let t = &tokens[0];
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), client.tchk(&t.key, &t.id))
            .await
            .unwrap()
            .unwrap(),
        NtfTknStatus::Active
    );
    let before = pushed_per_queue(&env.router, subs);
    assert_eq!(send_each(smp, &env.router, subs).await, subs.len());
    until(10, "pushes for the working client", || {
        pushed_per_queue(&env.router, subs)
            .iter()
            .zip(&before)
            .all(|(a, b)| *a == b + 1)
    })
    .await;
    let fresh = tokio::time::timeout(Duration::from_secs(10), env.client())
        .await
        .expect("a new connection is served");
    tokio::time::timeout(Duration::from_secs(5), fresh.ping())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_blocks_get_err_block_or_disconnect_and_others_are_unaffected() {
    tokio::time::timeout(TEST_CAP, async {
        let env = start().await;
        let client = env.client().await;
        let smp = env.smp().await;
        let (tokens, subs) = env.fleet(&client, &smp, 1, 2).await;
        let mut s = raw_session(&env).await;
        let size = s.writer.block_size();
        let version = s.agreement.version;
        let mut outcome = Vec::new();
        for i in 0..20u8 {
            // random bytes, and a well-padded block whose content is not a transmission list
            let block = if i % 2 == 0 {
                let mut b = vec![0u8; size];
                for chunk in b.chunks_mut(32) {
                    let r = random_array::<32>().unwrap();
                    chunk.copy_from_slice(&r[..chunk.len()]);
                }
                b
            } else {
                let mut b = vec![b'#'; size];
                b[..4].copy_from_slice(&[0, 200, 0xff, 0x01]);
                b
            };
            if s.writer.write_raw(&block).await.is_err() {
                outcome.push("write failed".to_string());
                break;
            }
            match tokio::time::timeout(Duration::from_secs(5), s.reader.read_transmissions(true))
                .await
            {
                Ok(Ok(items)) => {
                    let params = s.params();
                    for t in items.into_iter().flatten() {
                        let raw =
                            RawTransmission::decode(&t, &params).expect("a response transmission");
                        let r = NtfResponse::decode(raw.command, version).expect("a response");
                        assert_eq!(
                            r,
                            NtfResponse::Err(ErrorType::Block),
                            "garbage gets ERR BLOCK"
                        );
                        outcome.push("ERR BLOCK".into());
                    }
                }
                Ok(Err(_)) => {
                    outcome.push("disconnected".into());
                    break;
                }
                Err(_) => panic!("no answer to a garbage block within 5 s"),
            }
        }
        assert!(!outcome.is_empty());
        assert!(
            outcome
                .iter()
                .all(|o| o == "ERR BLOCK" || o == "disconnected" || o == "write failed"),
            "{outcome:?}"
        );
        // a connection that is not TLS at all is dropped
        let mut plain = TcpStream::connect(env.ntf.addr).await.unwrap();
        plain.write_all(&[0x47; 600]).await.unwrap();
        // (a TLS alert may come first; then the server closes)
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            let mut buf = [0u8; 256];
            for _ in 0..100 {
                match tokio::io::AsyncReadExt::read(&mut plain, &mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
            false
        })
        .await;
        assert_eq!(closed, Ok(true), "a non-TLS client is disconnected");
        eprintln!("garbage blocks: {outcome:?}");
        others_work(&env, &smp, &client, &tokens, &subs).await;
    })
    .await
    .expect("test time cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_stuck_in_the_handshake_do_not_block_others() {
    tokio::time::timeout(TEST_CAP, async {
        let env = start().await;
        // the handshake timeout is 60 s: these stay open for the whole test
        let mut stuck = Vec::new();
        for i in 0..40 {
            let mut tcp = TcpStream::connect(env.ntf.addr).await.unwrap();
            if i % 2 == 0 {
                // the start of a TLS record and nothing more
                tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                    .await
                    .unwrap();
            }
            stuck.push(tcp);
        }
        // TLS done, the NTF server hello never answered
        let mut half = Vec::new();
        for _ in 0..10 {
            let tcp = TcpStream::connect(env.ntf.addr).await.unwrap();
            half.push(
                TlsClientConfig::new(&[ntf_proto::version::ALPN])
                    .unwrap()
                    .connect(tcp, &env.ntf.key_hash)
                    .await
                    .unwrap(),
            );
        }
        let t = Instant::now();
        let client = env.client().await;
        let smp = env.smp().await;
        let (tokens, subs) = env.fleet(&client, &smp, 2, 2).await;
        others_work(&env, &smp, &client, &tokens, &subs).await;
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "served long before the handshake timeout"
        );
        drop((stuck, half));
    })
    .await
    .expect("test time cap");
}

/// A PING transmission for the raw session.
fn ping(s: &ref_transport::NtfSession<TcpStream>) -> Vec<u8> {
    let params = s.params();
    let corr = random_array::<24>().unwrap();
    let cmd = NtfCommand::Ping.to_bytes(s.agreement.version);
    let fa = ForAuth::new(&params, &corr, b"", &cmd);
    let mut out = Vec::new();
    fa.encode(params.service_auth, None, None, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_block_others() {
    tokio::time::timeout(TEST_CAP, async {
        let env = start().await;
        let client = env.client().await;
        let smp = env.smp().await;
        let (tokens, subs) = env.fleet(&client, &smp, 1, 2).await;
        let mut s = raw_session(&env).await;
        let batch: Vec<Vec<u8>> = (0..20).map(|_| ping(&s)).collect();
        // write PINGs and never read: once the socket buffers are full in both directions the
        // server's writes to this client block (bounded: 3 s or 50000 blocks)
        let end = Instant::now() + Duration::from_secs(3);
        let mut blocked = false;
        for _ in 0..50_000 {
            if Instant::now() >= end {
                break;
            }
            match tokio::time::timeout(
                Duration::from_millis(300),
                s.writer.write_transmissions(&batch, true),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("server closed the non-reading client early: {e}"),
                Err(_) => {
                    blocked = true;
                    break;
                }
            }
        }
        assert!(
            blocked,
            "the server kept reading while its answers were not read"
        );
        others_work(&env, &smp, &client, &tokens, &subs).await;
        drop(s);
    })
    .await
    .expect("test time cap");
}
