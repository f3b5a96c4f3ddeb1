//! `ref-server demo`: the reference pair end to end on loopback with embedded defaults.
//!
//! Starts a mock APNS, an SMP relay, and a notification server in a temporary directory
//! configured to push to the mock (`apns_test`), then walks an app through the whole path:
//! a queue on the relay with notifications enabled (`NEW`, `NKEY` -> `NID`), token registration
//! (`TNEW`, the verification push decrypted by a simulated device, `TVFY`), the subscription
//! (`SNEW`, the server's `NSUB`), a sender's `SEND`, the `NMSG` turned into a push, the device
//! decrypting the notification and its metadata, and the message fetched with `GET`/`ACK`.
//! Every step is printed with its latency, and the delivered notification with its end-to-end
//! latency; nothing is left running.
//!
//! With [`DemoProvider::WebPush`] (`demo --provider webpush`) the pushes go to the mock Web
//! Push service instead (`[WEBPUSH]` with its CA and only `127.0.0.1` allowed): the device
//! makes its subscription's P-256 key pair and auth secret, registers a `WP` token for
//! `https://127.0.0.1:<port>/push/<id>`, and decrypts each push it receives there (RFC 8291,
//! then the token's DH secret) itself.

use std::fmt::Display;
use std::time::{Duration, Instant};

use ntf_proto::command::{NewNtfSubscription, NewNtfToken};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfTknStatus, PushProvider};
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::{Device, DevicePush};
use ref_client::smp::{decrypt_nmsg, SmpClient, SmpClientConfig};
use ref_transport::{random_array, ServerCredentials};
use smp_proto::command::SubscriptionMode;
use smp_proto::crypto::{ed25519_public, x25519_public};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::message::{MsgFlags, RcvMsgBody};
use smp_proto::server::{SmpServer, TransportHost};
use tokio::net::TcpListener;

use crate::smp::core::RelayConfig;
use crate::smp::server::SmpRelayServer;

use crate::apns::mock::{MockApns, MockConfig};
use crate::server::config::{ApnsTestSection, Config, WebPushSection};
use crate::webpush::mock::MockWebPush;
use ref_client::device::WebPushKeys;

/// Where the demo's pushes go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DemoProvider {
    /// The mock APNS (`AT` tokens).
    #[default]
    Apns,
    /// The mock Web Push service (`WP` tokens).
    WebPush,
}

/// The mock push service of the demo and the device token registered with it.
enum Mock {
    Apns(MockApns, String),
    WebPush(MockWebPush, String),
}

impl Mock {
    fn name(&self) -> &'static str {
        match self {
            Self::Apns(..) => "mock APNS",
            Self::WebPush(..) => "mock Web Push service",
        }
    }

    /// The body of the next push to the demo's token.
    async fn next_body(&self) -> anyhow::Result<Vec<u8>> {
        match self {
            Self::Apns(m, token) => Ok(m.next_push_for(token).await.body),
            Self::WebPush(m, path) => {
                let p = m.next_push().await;
                anyhow::ensure!(&p.path == path, "a push to {}, expected {path}", p.path);
                anyhow::ensure!(p.header("content-encoding") == Some("aes128gcm"), "push without Content-Encoding: aes128gcm");
                Ok(p.body)
            }
        }
    }
}

/// How long the demo waits for a push.
const PUSH_WAIT: Duration = Duration::from_secs(10);

struct Steps {
    start: Instant,
    n: usize,
}

impl Steps {
    fn step(&mut self, what: impl Display, took: Duration) {
        self.n += 1;
        println!("[{:>2}] {:<62} {:>9.2} ms", self.n, what.to_string(), took.as_secs_f64() * 1e3);
    }

    async fn time<T, F: std::future::Future<Output = anyhow::Result<T>>>(&mut self, what: impl Display, f: F) -> anyhow::Result<T> {
        let t = Instant::now();
        let v = f.await?;
        self.step(what, t.elapsed());
        Ok(v)
    }
}

/// Runs the demo; returns an error (and a non-zero exit) when any step fails.
///
/// # Errors
/// The first step that failed, with what was expected.
pub async fn run(provider: DemoProvider) -> anyhow::Result<()> {
    let mut s = Steps { start: Instant::now(), n: 0 };
    let dir = tempfile::tempdir()?;

    // the device's push subscription: an APNS token text, or Web Push keys and a resource id
    let token_text: String = random_array::<32>()?.iter().map(|b| format!("{b:02x}")).collect();
    let wp_keys = WebPushKeys::generate();
    let mock = match provider {
        DemoProvider::Apns => s.time("mock APNS started", async { Ok(Mock::Apns(MockApns::start(MockConfig::default()).await?, token_text.clone())) }).await?,
        DemoProvider::WebPush => {
            let path = format!("/push/{}", &token_text[..32]);
            s.time("mock Web Push service started (HTTP/2, TLS)", async { Ok(Mock::WebPush(MockWebPush::start().await?, path)) }).await?
        }
    };
    let (relay, relay_addr, relay_task) = s
        .time("SMP relay started (in memory)", async {
            let (_ca, creds) = ServerCredentials::generate("127.0.0.1")?;
            let relay = SmpRelayServer::new(&creds, RelayConfig::default())?;
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let task = tokio::spawn(relay.clone().run(listener));
            Ok((relay, addr, task))
        })
        .await?;
    println!("     relay address: smp://{}@{relay_addr}", relay.key_hash());
    let (ca_pem, mock_port) = match &mock {
        Mock::Apns(m, _) => (m.ca_pem(), m.addr().port()),
        Mock::WebPush(m, _) => (m.ca_pem(), m.addr().port()),
    };
    std::fs::write(dir.path().join("push-mock-ca.pem"), ca_pem)?;

    let server = s
        .time("ntf-server initialised and started (SQLite store in a temp dir)", async {
            let port = free_port()?;
            crate::server::init(dir.path(), "127.0.0.1", port)?;
            let mut config = Config::load(dir.path())?;
            config.server.listen = [127, 0, 0, 1].into();
            match provider {
                DemoProvider::Apns => {
                    config.apns_test = Some(ApnsTestSection { host: "127.0.0.1".into(), port: mock_port, ca_file: "push-mock-ca.pem".into() });
                }
                DemoProvider::WebPush => {
                    config.webpush = Some(WebPushSection { allowed_hosts: vec!["127.0.0.1".into()], ca_file: Some("push-mock-ca.pem".into()), ..WebPushSection::default() });
                }
            }
            config.save(dir.path())?;
            crate::server::run(dir.path()).await
        })
        .await?;
    println!("     server address: {}", server.address("127.0.0.1"));

    let client = s
        .time("client connected: TLS 1.3 + NTF handshake (tls-unique session id)", async {
            Ok(NtfClient::connect_addr(server.addr, &server.key_hash, &NtfClientConfig::default()).await?)
        })
        .await?;
    println!("     NTF version {}, session id {}", client.version().0, hex(client.session_id()));

    // the app's keys and its device token (AT or WP: pushed to the mock)
    let seed = random_array::<32>()?;
    let key = AuthPrivateKey::new(PrivateKey::Ed25519(seed)).ok_or_else(|| anyhow::anyhow!("key"))?;
    let dh_private = random_array::<32>()?;
    let token = match &mock {
        Mock::Apns(..) => DeviceToken::new(PushProvider::ApnsTest, token_text.clone().into_bytes()).ok_or_else(|| anyhow::anyhow!("token"))?,
        Mock::WebPush(m, path) => DeviceToken::WebPush(wp_keys.token(m.provider(), path.clone()).ok_or_else(|| anyhow::anyhow!("token"))?),
    };
    if let DeviceToken::WebPush(t) = &token {
        println!("     device: P-256 key pair and auth secret; WP token for {}", String::from_utf8_lossy(&t.endpoint()));
    }
    let new_token = NewNtfToken {
        token: token.clone(),
        verify_key: AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed))).ok_or_else(|| anyhow::anyhow!("key"))?,
        dh_key: X25519PublicKey(x25519_public(&dh_private)),
    };

    let t = Instant::now();
    let (token_id, server_dh) = client.tnew(&key, new_token).await?;
    s.step("TNEW -> IDTKN (token registered)", t.elapsed());
    let push = tokio::time::timeout(PUSH_WAIT, mock.next_body()).await.map_err(|_| anyhow::anyhow!("no verification push within {PUSH_WAIT:?}"))??;
    s.step(format_args!("verification push received by the {} ({} bytes)", mock.name(), push.len()), t.elapsed());

    let mut device = Device::from_idtkn(&dh_private, &PublicKey::X25519(server_dh.0))?;
    if provider == DemoProvider::WebPush {
        device = device.with_web_push(wp_keys.clone());
    }
    let code = match device.receive(&push)? {
        DevicePush::Verification(code) => code,
        other => anyhow::bail!("expected a verification push, got {other:?}"),
    };
    s.step(format_args!("device decrypted the verification code ({} bytes)", code.as_bytes().len()), Duration::ZERO);

    s.time("TVFY -> OK", async { Ok(client.tvfy(&key, &token_id, code).await?) }).await?;
    let status = s.time("TCHK -> TKN", async { Ok(client.tchk(&key, &token_id).await?) }).await?;
    anyhow::ensure!(status == NtfTknStatus::Active, "token status {status}, expected ACTIVE");
    println!("     token status: {status}");
    s.time("TCRN 20 -> OK (periodic check-messages every 20 minutes)", async { Ok(client.tcrn(&key, &token_id, 20).await?) }).await?;

    // the app's queue on the relay, with notifications enabled
    let smp = s
        .time("app connected to the SMP relay (TLS 1.3, SMP handshake)", async {
            Ok(SmpClient::connect_addr(relay_addr, &relay.key_hash(), &SmpClientConfig::default()).await?)
        })
        .await?;
    println!("     SMP version {}, block encryption {}", smp.version().0, smp.block_encryption());
    let queue = s.time("NEW -> IDS (queue created)", async { Ok(smp.create_queue(SubscriptionMode::OnlyCreate, true).await?) }).await?;
    let creds = s.time("NKEY -> NID (notifier id and relay DH key)", async { Ok(smp.enable_notifications(&queue).await?) }).await?;

    let relay_server = SmpServer::new(vec![TransportHost::Ipv4([127, 0, 0, 1])], relay_addr.port().to_string(), relay.key_hash())
        .ok_or_else(|| anyhow::anyhow!("relay address"))?;
    let sub = NewNtfSubscription {
        token_id: token_id.clone(),
        queue: SmpQueueNtf::new(relay_server, creds.notifier_id.clone()).ok_or_else(|| anyhow::anyhow!("queue"))?,
        notifier_key: creds.notifier_key.private.clone(),
    };
    let sub_id = s.time("SNEW -> IDSUB (subscription for the queue)", async { Ok(client.snew(&key, sub).await?) }).await?;
    let t = Instant::now();
    loop {
        let status = client.schk(&key, &sub_id).await?;
        if status == NtfSubStatus::Active {
            break;
        }
        anyhow::ensure!(t.elapsed() < PUSH_WAIT, "subscription status {status}, expected ACTIVE");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.step("server subscribed with NSUB; SCHK -> SUB ACTIVE", t.elapsed());

    // a sender's message with the notification flag
    let sender = SmpClient::connect_addr(relay_addr, &relay.key_hash(), &SmpClientConfig::default()).await?;
    let body = b"hello from the sender";
    let sent = Instant::now();
    s.time("sender: SEND (notification flag) -> OK", async { Ok(sender.send_message(&queue.snd_id, None, MsgFlags { notification: true }, body).await?) }).await?;
    let push = tokio::time::timeout(PUSH_WAIT, mock.next_body()).await.map_err(|_| anyhow::anyhow!("no message push within {PUSH_WAIT:?}"))??;
    let latency = sent.elapsed();
    s.step(format_args!("NMSG -> push received by the {}", mock.name()), latency);
    let list = match device.receive(&push)? {
        DevicePush::Messages(list) => list,
        other => anyhow::bail!("expected a message push, got {other:?}"),
    };
    let item = list.messages().last().ok_or_else(|| anyhow::anyhow!("empty message list"))?.clone();
    let meta = decrypt_nmsg(&creds.rcv_ntf_dh_secret, &item.nonce, item.enc_meta()).map_err(|e| anyhow::anyhow!("metadata: {e:?}"))?;
    s.step("device decrypted the notification list and the NMSG metadata", Duration::ZERO);
    let (msg_id, msg) = s.time("GET -> MSG (message fetched and decrypted)", async { smp.get_message(&queue).await?.ok_or_else(|| anyhow::anyhow!("no message")) }).await?;
    anyhow::ensure!(msg_id == meta.msg_id, "the notification names another message");
    let text = match msg {
        RcvMsgBody::Message { body, .. } => String::from_utf8_lossy(&body).into_owned(),
        other => anyhow::bail!("unexpected {other:?}"),
    };
    s.time("ACK -> OK", async {
        smp.ack(&queue, &msg_id).await?;
        Ok(())
    })
    .await?;
    println!(
        "     delivered: queue {} message {} sent at {} -> {text:?}; SEND to push {:.2} ms",
        hex(&item.queue.notifier_id()[..6]),
        hex(&meta.msg_id[..6]),
        meta.msg_ts,
        latency.as_secs_f64() * 1e3
    );

    s.time("SDEL, TDEL, DEL -> OK", async {
        client.sdel(&key, &sub_id).await?;
        client.tdel(&key, &token_id).await?;
        smp.delete_queue(&queue).await?;
        Ok(())
    })
    .await?;
    drop((client, smp, sender));
    server.shutdown().await;
    relay_task.abort();
    drop(mock);
    println!("demo finished in {:.1} ms; everything stopped", s.start.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
