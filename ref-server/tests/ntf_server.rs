//! The notification server end to end over real TLS on loopback: the `ntf-server` shell with
//! its core and in-memory store, the reference client library, the mock APNS as the `AT`
//! provider, and the device simulator that decrypts what the mock received.

use std::sync::Arc;
use std::time::Duration;

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtInvalidReason, NtfRegCode, NtfTknStatus, PushProvider};
use ref_client::client::{ClientError, NtfClient, NtfClientConfig};
use ref_client::device::{Device, DevicePush};
use ref_server::apns::mock::{MockApns, MockAuth, MockConfig, MockResponse};
use ref_server::apns::{ApnsClient, ApnsConfig, ApnsSigningKey, PushClients};
use ref_server::server::shell::{self, RunningServer, ShellConfig};
use ref_transport::{random_array, ServerCredentials, TlsServerConfig};
use smp_proto::crypto::{ed25519_public, x25519_public};
use smp_proto::error_type::{CommandError, ErrorType};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};
use tokio::net::TcpListener;

struct Env {
    server: RunningServer,
    mock: MockApns,
    key_hash: KeyHash,
}

async fn start() -> Env {
    let key = ApnsSigningKey::generate().unwrap();
    let apns = ApnsConfig { key_id: "KEYID12345".into(), ..ApnsConfig::default() };
    let auth = MockAuth { key: key.verifying_key().unwrap(), key_id: apns.key_id.clone(), team_id: apns.team_id.clone() };
    let mock = MockApns::start(MockConfig { auth: Some(auth) }).await.unwrap();
    let push = PushClients { test: Some(ApnsClient::new(mock.endpoint(), apns, key).unwrap()), ..PushClients::default() };
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let key_hash = creds.key_hash();
    let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(push), subscriber: None, ops: Default::default() };
    let server = shell::start(listener, config, ref_server::ntf::Config::default(), ref_server::ntf::MemStore::new()).unwrap();
    Env { server, mock, key_hash }
}

async fn connect(env: &Env, v: u16) -> NtfClient {
    let config = NtfClientConfig::with_versions(v, v).unwrap();
    NtfClient::connect_addr(env.server.addr, &env.key_hash, &config).await.unwrap()
}

/// A registration as a client makes it: a random APNS-like hex token, keys.
struct Reg {
    key: AuthPrivateKey,
    dh_private: [u8; 32],
    token: DeviceToken,
}

impl Reg {
    fn new(ed25519: bool) -> Self {
        let seed = random_array::<32>().unwrap();
        let key = if ed25519 { PrivateKey::Ed25519(seed) } else { PrivateKey::X25519(seed) };
        let hex: String = random_array::<32>().unwrap().iter().map(|b| format!("{b:02x}")).collect();
        Self {
            key: AuthPrivateKey::new(key).unwrap(),
            dh_private: random_array::<32>().unwrap(),
            token: DeviceToken::new(PushProvider::ApnsTest, hex.into_bytes()).unwrap(),
        }
    }

    fn token_text(&self) -> String {
        String::from_utf8(self.token.apns_token().unwrap_or_default().to_vec()).unwrap()
    }

    fn new_token(&self) -> NewNtfToken {
        let verify = match self.key.key() {
            PrivateKey::Ed25519(s) => PublicKey::Ed25519(ed25519_public(s)),
            PrivateKey::X25519(s) => PublicKey::X25519(x25519_public(s)),
            _ => unreachable!(),
        };
        NewNtfToken {
            token: self.token.clone(),
            verify_key: AuthPublicKey::new(verify).unwrap(),
            dh_key: X25519PublicKey(x25519_public(&self.dh_private)),
        }
    }
}

/// TNEW, then the verification code from the push the mock received, decrypted by the device.
async fn register(env: &Env, c: &NtfClient, reg: &Reg) -> (ntf_proto::command::NtfEntityId, NtfRegCode) {
    let (id, server_dh) = c.tnew(&reg.key, reg.new_token()).await.unwrap();
    let push = tokio::time::timeout(Duration::from_secs(10), env.mock.next_push_for(&reg.token_text())).await.unwrap();
    assert_eq!(push.path, format!("/3/device/{}", reg.token_text()));
    assert_eq!(push.header("apns-push-type"), Some("background"));
    assert_eq!(push.header("apns-priority"), Some("5"));
    let device = Device::from_idtkn(&reg.dh_private, &PublicKey::X25519(server_dh.0)).unwrap();
    match device.receive(&push.body).unwrap() {
        DevicePush::Verification(code) => (id, code),
        other => panic!("expected a verification push, got {other:?}"),
    }
}

async fn wait_status(c: &NtfClient, reg: &Reg, id: &ntf_proto::command::NtfEntityId, want: NtfTknStatus) {
    for _ in 0..100 {
        if c.tchk(&reg.key, id).await.unwrap() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("token never reached {want}; last {}", c.tchk(&reg.key, id).await.unwrap());
}

fn server_error(e: ClientError) -> ErrorType {
    match e {
        ClientError::Server(e) => e,
        other => panic!("expected ERR, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lifecycle_at_every_version() {
    let env = start().await;
    for v in 1..=3u16 {
        let c = connect(&env, v).await;
        assert_eq!(c.version().0, v);
        let reg = Reg::new(true);
        let (id, code) = register(&env, &c, &reg).await;
        // the provider accepted the verification push
        wait_status(&c, &reg, &id, NtfTknStatus::Confirmed).await;
        // a wrong code is AUTH, the right one activates (and is repeatable)
        let wrong = NtfRegCode::new(vec![0u8; 32]).unwrap();
        assert_eq!(server_error(c.tvfy(&reg.key, &id, wrong).await.unwrap_err()), ErrorType::Auth);
        c.tvfy(&reg.key, &id, code.clone()).await.unwrap();
        c.tvfy(&reg.key, &id, code).await.unwrap();
        assert_eq!(c.tchk(&reg.key, &id).await.unwrap(), NtfTknStatus::Active);
        // TCRN: 1..19 minutes is QUOTA; 0 and >= 20 are accepted
        assert_eq!(server_error(c.tcrn(&reg.key, &id, 5).await.unwrap_err()), ErrorType::Quota);
        c.tcrn(&reg.key, &id, 20).await.unwrap();
        c.tcrn(&reg.key, &id, 0).await.unwrap();
        c.ping().await.unwrap();
        // TDEL, then the token is gone
        c.tdel(&reg.key, &id).await.unwrap();
        assert_eq!(server_error(c.tchk(&reg.key, &id).await.unwrap_err()), ErrorType::Auth);
    }
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x25519_authenticators_and_bad_authorization() {
    let env = start().await;
    let c = connect(&env, 3).await;
    let reg = Reg::new(false);
    let (id, code) = register(&env, &c, &reg).await;
    c.tvfy(&reg.key, &id, code).await.unwrap();
    assert_eq!(c.tchk(&reg.key, &id).await.unwrap(), NtfTknStatus::Active);
    // another key for the same token: AUTH; an unknown token id: AUTH
    let other = Reg::new(true);
    assert_eq!(server_error(c.tchk(&other.key, &id).await.unwrap_err()), ErrorType::Auth);
    let unknown = ntf_proto::command::NtfEntityId::new(vec![7u8; 24]).unwrap();
    assert_eq!(server_error(c.tchk(&reg.key, &unknown).await.unwrap_err()), ErrorType::Auth);
    // TCHK without the entity id: the reference's CMD NO_AUTH
    let cmd = NtfCommand::Tchk.to_bytes(c.version());
    let t = c.encode_transmission(Some(&reg.key), b"", &cmd).unwrap();
    let reply = c.send_raw(vec![t]).await.unwrap().pop().unwrap().unwrap();
    assert_eq!(reply.response.unwrap(), NtfResponse::Err(ErrorType::Cmd(CommandError::NoAuth)));
    // PING with an authorization: CMD HAS_AUTH
    let ping = NtfCommand::Ping.to_bytes(c.version());
    let t = c.encode_transmission(Some(&reg.key), b"", &ping).unwrap();
    let reply = c.send_raw(vec![t]).await.unwrap().pop().unwrap().unwrap();
    assert_eq!(reply.response.unwrap(), NtfResponse::Err(ErrorType::Cmd(CommandError::HasAuth)));
    env.server.shutdown().await;
}

fn queue() -> SmpQueueNtf {
    let server = SmpServer::new(vec![TransportHost::Domain("smp.example.com".into())], "5223", KeyHash::from([9u8; 32])).unwrap();
    SmpQueueNtf::new(server, random_array::<24>().unwrap().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_need_a_verified_token_and_follow_ownership_rules() {
    let env = start().await;
    let c = connect(&env, 3).await;
    let reg = Reg::new(true);
    let (id, code) = register(&env, &c, &reg).await;
    let notifier = AuthPrivateKey::new(PrivateKey::Ed25519(random_array::<32>().unwrap())).unwrap();
    let q = queue();
    let sub = |token_id: &ntf_proto::command::NtfEntityId, key: &AuthPrivateKey| NewNtfSubscription {
        token_id: token_id.clone(),
        queue: q.clone(),
        notifier_key: key.clone(),
    };
    // not verified yet
    assert_eq!(server_error(c.snew(&reg.key, sub(&id, &notifier)).await.unwrap_err()), ErrorType::Auth);
    c.tvfy(&reg.key, &id, code).await.unwrap();
    let sid = c.snew(&reg.key, sub(&id, &notifier)).await.unwrap();
    // repeated with the same key: the same id; another key: AUTH
    assert_eq!(c.snew(&reg.key, sub(&id, &notifier)).await.unwrap(), sid);
    let other_key = AuthPrivateKey::new(PrivateKey::Ed25519(random_array::<32>().unwrap())).unwrap();
    assert_eq!(server_error(c.snew(&reg.key, sub(&id, &other_key)).await.unwrap_err()), ErrorType::Auth);
    // another token may not take the queue
    let reg2 = Reg::new(true);
    let (id2, code2) = register(&env, &c, &reg2).await;
    c.tvfy(&reg2.key, &id2, code2).await.unwrap();
    assert_eq!(server_error(c.snew(&reg2.key, sub(&id2, &notifier)).await.unwrap_err()), ErrorType::Auth);
    // no SMP subscriber in this server: the subscription stays NEW
    assert_eq!(c.schk(&reg.key, &sid).await.unwrap(), NtfSubStatus::New);
    c.sdel(&reg.key, &sid).await.unwrap();
    assert_eq!(server_error(c.schk(&reg.key, &sid).await.unwrap_err()), ErrorType::Auth);
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_errors_map_to_token_statuses() {
    let env = start().await;
    let cases = [
        (400, "BadDeviceToken", Some(NtInvalidReason::BadToken)),
        (400, "DeviceTokenNotForTopic", Some(NtInvalidReason::TokenNotForTopic)),
        (410, "ExpiredToken", Some(NtInvalidReason::ExpiredToken)),
        (410, "Unregistered", Some(NtInvalidReason::Unregistered)),
        (503, "", None),
        (400, "TopicDisallowed", None),
        (403, "InvalidProviderToken", None),
        (410, "SomethingElse", None),
        (500, "InternalServerError", None),
    ];
    let c3 = connect(&env, 3).await;
    let c1 = connect(&env, 1).await;
    for (status, reason, invalid) in cases {
        let reg = Reg::new(true);
        env.mock.respond_to(&reg.token_text(), MockResponse::error(status, reason));
        let (id, _) = c3.tnew(&reg.key, reg.new_token()).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(10), env.mock.next_push_for(&reg.token_text())).await.unwrap();
        match invalid {
            Some(r) => {
                wait_status(&c3, &reg, &id, NtfTknStatus::Invalid(Some(r))).await;
                // a v1 client sees INVALID without its reason
                assert_eq!(c1.tchk(&reg.key, &id).await.unwrap(), NtfTknStatus::Invalid(None));
            }
            None => {
                // not a token problem: the token stays REGISTERED (not CONFIRMED)
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(c3.tchk(&reg.key, &id).await.unwrap(), NtfTknStatus::Registered, "{status} {reason}");
            }
        }
    }
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trpl_sends_a_new_verification_to_the_new_token() {
    let env = start().await;
    let c = connect(&env, 2).await;
    let reg = Reg::new(true);
    let (id, code) = register(&env, &c, &reg).await;
    c.tvfy(&reg.key, &id, code).await.unwrap();
    let newer = Reg::new(true);
    c.trpl(&reg.key, &id, newer.token.clone()).await.unwrap();
    // REGISTERED again (no longer ACTIVE), then CONFIRMED once the new push is accepted
    assert_ne!(c.tchk(&reg.key, &id).await.unwrap(), NtfTknStatus::Active);
    let push = tokio::time::timeout(Duration::from_secs(10), env.mock.next_push_for(&newer.token_text())).await.unwrap();
    assert_eq!(push.path, format!("/3/device/{}", newer.token_text()));
    let body: serde_json::Value = serde_json::from_slice(&push.body).unwrap();
    assert!(body["notificationData"]["verification"].is_string(), "{body}");
    wait_status(&c, &reg, &id, NtfTknStatus::Confirmed).await;
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_loadable_server_directory() {
    let dir = tempfile::tempdir().unwrap();
    let addr = ref_server::server::init(dir.path(), "127.0.0.1", 0).unwrap();
    assert!(addr.starts_with("ntf://") && addr.ends_with("@127.0.0.1:0"), "{addr}");
    // Ed448 credentials by default, as the reference's `ntf-server init`; our client verifies them below
    let creds = ref_transport::ServerCredentials::load(dir.path()).unwrap();
    assert_eq!(creds.sign_algorithm(), ref_transport::SignAlgorithm::Ed448);
    // a second init refuses to overwrite
    assert!(ref_server::server::init(dir.path(), "127.0.0.1", 0).is_err());
    // start serves it (port 0: any free port); a broken directory is a clear error
    let server = ref_server::server::run(dir.path()).await.unwrap();
    let kh = server.key_hash.clone();
    let c = NtfClient::connect_addr(std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port())), &kh, &NtfClientConfig::default()).await.unwrap();
    c.ping().await.unwrap();
    server.shutdown().await;
    let e = ref_server::server::run(&dir.path().join("nope")).await.err().unwrap().to_string();
    assert!(e.contains("not a server directory"), "{e}");
    std::fs::write(dir.path().join("ntf-server.ini"), "[TRANSPORT]\nport = 443\ngarbage\n").unwrap();
    let e = ref_server::server::run(dir.path()).await.err().unwrap().to_string();
    assert!(e.contains("ntf-server.ini: line 3: expected `key = value`"), "{e}");
}

/// Registers and verifies a token and subscribes a queue on the server in `dir`, restarts the
/// server, and finds both again with the same keys.
async fn survives_restart(dir: &std::path::Path) {
    let server = ref_server::server::run(dir).await.unwrap();
    let c = NtfClient::connect_addr(server.addr, &server.key_hash, &NtfClientConfig::default()).await.unwrap();
    let reg = Reg::new(true);
    // AN (null) tokens: accepted by the provider without a mock
    let reg = Reg { token: DeviceToken::new(PushProvider::ApnsNull, reg.token.apns_token().unwrap().to_vec()).unwrap(), ..reg };
    let (id, _) = c.tnew(&reg.key, reg.new_token()).await.unwrap();
    wait_status(&c, &reg, &id, NtfTknStatus::Confirmed).await;
    let notifier = AuthPrivateKey::new(PrivateKey::Ed25519(random_array::<32>().unwrap())).unwrap();
    let sub = NewNtfSubscription { token_id: id.clone(), queue: queue(), notifier_key: notifier };
    // not ACTIVE yet: no subscriptions (the code came in a push we did not read; ACTIVE is not needed here)
    assert_eq!(server_error(c.snew(&reg.key, sub).await.unwrap_err()), ErrorType::Auth);
    drop(c);
    let kh = server.key_hash.clone();
    let port = server.addr.port();
    server.shutdown().await;

    let server = ref_server::server::run(dir).await.unwrap();
    assert_eq!(server.key_hash, kh);
    let c = NtfClient::connect_addr(std::net::SocketAddr::from(([127, 0, 0, 1], port)), &kh, &NtfClientConfig::default()).await.unwrap();
    assert_eq!(c.tchk(&reg.key, &id).await.unwrap(), NtfTknStatus::Confirmed);
    c.tdel(&reg.key, &id).await.unwrap();
    server.shutdown().await;
}

fn configure(dir: &std::path::Path, edit: impl FnOnce(&mut ref_server::server::config::Config)) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    ref_server::server::init(dir, "127.0.0.1", port).unwrap();
    let mut config = ref_server::server::config::Config::load(dir).unwrap();
    config.server.listen = [127, 0, 0, 1].into();
    edit(&mut config);
    config.save(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    configure(dir.path(), |_| {});
    survives_restart(dir.path()).await;
    assert!(dir.path().join("ntf-store.db").exists());
}

/// Needs PostgreSQL: `NTF_TEST_PG_URL` (the CI script sets it to the local server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_survives_restart() {
    let Ok(url) = std::env::var("NTF_TEST_PG_URL") else {
        eprintln!("SKIPPED postgres_store_survives_restart: NTF_TEST_PG_URL is not set");
        return;
    };
    let schema = format!("ntf_srv_test_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    configure(dir.path(), |c| {
        c.store.backend = ref_server::server::config::StoreBackend::Postgres;
        c.store.url = url.clone();
        c.store.schema = schema.clone();
    });
    survives_restart(dir.path()).await;
    let pg = ref_server::store::postgres::PgConfig::new(url).with_schema(schema);
    tokio::task::spawn_blocking(move || ref_server::store::postgres::PgStore::open(pg).unwrap().drop_schema().unwrap()).await.unwrap();
}
