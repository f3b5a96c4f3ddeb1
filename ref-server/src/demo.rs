//! `ref-server demo`: the reference pair end to end on loopback with embedded defaults.
//!
//! Starts a mock APNS, then a notification server in a temporary directory configured to push
//! to the mock (`apns_test`), and walks a client through registration as a real app would:
//! `TNEW`, the verification push decrypted by a simulated device, `TVFY`, `TCHK`, `TCRN`, a
//! subscription for a queue (`SNEW`/`SCHK`), and clean-up. Every step is printed with its
//! latency; nothing is left running.

use std::fmt::Display;
use std::time::{Duration, Instant};

use ntf_proto::command::{NewNtfSubscription, NewNtfToken};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::token::{DeviceToken, NtfTknStatus, PushProvider};
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::{Device, DevicePush};
use ref_transport::random_array;
use smp_proto::crypto::{ed25519_public, x25519_public};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};

use crate::apns::mock::{MockApns, MockConfig};
use crate::server::config::{ApnsTestSection, Config};

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
pub async fn run() -> anyhow::Result<()> {
    let mut s = Steps { start: Instant::now(), n: 0 };
    let dir = tempfile::tempdir()?;

    let mock = s.time("mock APNS started", async { Ok(MockApns::start(MockConfig::default()).await?) }).await?;
    std::fs::write(dir.path().join("apns-mock-ca.pem"), mock.ca_pem())?;

    let server = s
        .time("ntf-server initialised and started (in-memory store)", async {
            let port = free_port()?;
            crate::server::init(dir.path(), "127.0.0.1", port)?;
            let mut config = Config::load(dir.path())?;
            config.server.listen = [127, 0, 0, 1].into();
            config.apns_test = Some(ApnsTestSection { host: "127.0.0.1".into(), port: mock.addr().port(), ca_file: "apns-mock-ca.pem".into() });
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

    // the app's keys and its APNS token (AT: pushed to the mock)
    let seed = random_array::<32>()?;
    let key = AuthPrivateKey::new(PrivateKey::Ed25519(seed)).ok_or_else(|| anyhow::anyhow!("key"))?;
    let dh_private = random_array::<32>()?;
    let token_text: String = random_array::<32>()?.iter().map(|b| format!("{b:02x}")).collect();
    let token = DeviceToken::new(PushProvider::ApnsTest, token_text.clone().into_bytes()).ok_or_else(|| anyhow::anyhow!("token"))?;
    let new_token = NewNtfToken {
        token: token.clone(),
        verify_key: AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed))).ok_or_else(|| anyhow::anyhow!("key"))?,
        dh_key: X25519PublicKey(x25519_public(&dh_private)),
    };

    let t = Instant::now();
    let (token_id, server_dh) = client.tnew(&key, new_token).await?;
    s.step("TNEW -> IDTKN (token registered)", t.elapsed());
    let push = tokio::time::timeout(PUSH_WAIT, mock.next_push_for(&token_text)).await.map_err(|_| anyhow::anyhow!("no verification push within {PUSH_WAIT:?}"))?;
    s.step(format_args!("verification push received by the mock APNS ({} bytes)", push.body.len()), t.elapsed());

    let device = Device::from_idtkn(&dh_private, &PublicKey::X25519(server_dh.0))?;
    let code = match device.receive(&push.body)? {
        DevicePush::Verification(code) => code,
        other => anyhow::bail!("expected a verification push, got {other:?}"),
    };
    s.step(format_args!("device decrypted the verification code ({} bytes)", code.as_bytes().len()), Duration::ZERO);

    s.time("TVFY -> OK", async { Ok(client.tvfy(&key, &token_id, code).await?) }).await?;
    let status = s.time("TCHK -> TKN", async { Ok(client.tchk(&key, &token_id).await?) }).await?;
    anyhow::ensure!(status == NtfTknStatus::Active, "token status {status}, expected ACTIVE");
    println!("     token status: {status}");
    s.time("TCRN 20 -> OK (periodic check-messages every 20 minutes)", async { Ok(client.tcrn(&key, &token_id, 20).await?) }).await?;

    let notifier = AuthPrivateKey::new(PrivateKey::Ed25519(random_array::<32>()?)).ok_or_else(|| anyhow::anyhow!("key"))?;
    let relay = SmpServer::new(vec![TransportHost::Domain("smp.example.com".into())], "5223", KeyHash::from(random_array::<32>()?))
        .ok_or_else(|| anyhow::anyhow!("server"))?;
    let queue = SmpQueueNtf::new(relay, random_array::<24>()?.to_vec()).ok_or_else(|| anyhow::anyhow!("queue"))?;
    let sub = NewNtfSubscription { token_id: token_id.clone(), queue, notifier_key: notifier };
    let sub_id = s.time("SNEW -> IDSUB (subscription for an SMP queue)", async { Ok(client.snew(&key, sub).await?) }).await?;
    let sub_status = s.time("SCHK -> SUB", async { Ok(client.schk(&key, &sub_id).await?) }).await?;
    println!("     subscription status: {sub_status} (no SMP relay in this demo yet)");

    s.time("SDEL, TDEL -> OK", async {
        client.sdel(&key, &sub_id).await?;
        client.tdel(&key, &token_id).await?;
        Ok(())
    })
    .await?;
    drop(client);
    server.shutdown().await;
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
