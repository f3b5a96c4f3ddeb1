//! End-to-end tests on loopback: the real client pushes to the mock, and the device simulator
//! decrypts what the mock received.

use std::sync::Arc;
use std::time::Duration;

use ntf_proto::push::PnMessages;
use ntf_proto::token::{DeviceToken, NtInvalidReason, NtfRegCode, PushProvider};
use ref_client::device::{Device, DevicePush};
use smp_proto::crypto::{dh, x25519_public, CryptoError};
use smp_proto::keys::PublicKey;

use super::mock::{MockApns, MockAuth, MockConfig, MockPush, MockResponse};
use super::*;

const KEY_ID: &str = "KEYID12345";
const TEAM_ID: &str = "TEAM123456";
const WAIT: Duration = Duration::from_secs(10);

const TWO_MESSAGES: &str = "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com:5223/bm90aWZpZXI= 1726777767 bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Uh bWV0YQ==;smp://5-yYn1jrPMrC3knymppImcQ2MXzLF0ecLyJSVEKsE1A=@a.example.org,::1,10.0.0.1:7001/g5iaA8xtduIM7ALWsbBDXc39aeVhLrbw 1770635281 Yux0bHV3kiJQk_DsxMPIS33N6LHLHD4l iGy6gvSnBY4=";

struct Setup {
    mock: MockApns,
    key: ApnsSigningKey,
    /// The token's DH secret as the server has it.
    secret: [u8; 32],
    /// The device, which agreed the same secret from its side.
    device: Device,
}

async fn setup() -> Setup {
    let key = ApnsSigningKey::generate().unwrap();
    let auth = MockAuth {
        key: key.verifying_key().unwrap(),
        key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
    };
    let mock = MockApns::start(MockConfig { auth: Some(auth) })
        .await
        .unwrap();
    let (client_private, server_private) = ([0x11; 32], [0x22; 32]);
    let secret = dh(&x25519_public(&client_private), &server_private);
    let device = Device::from_idtkn(
        &client_private,
        &PublicKey::X25519(x25519_public(&server_private)),
    )
    .unwrap();
    Setup {
        mock,
        key,
        secret,
        device,
    }
}

fn config() -> ApnsConfig {
    ApnsConfig {
        key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
        topic: "chat.simplex.test".into(),
        ..ApnsConfig::default()
    }
}

fn client(s: &Setup, config: ApnsConfig) -> ApnsClient {
    ApnsClient::new(s.mock.endpoint(), config, s.key.clone()).unwrap()
}

fn token(hex: &str) -> DeviceToken {
    DeviceToken::new(PushProvider::ApnsTest, hex.as_bytes().to_vec()).unwrap()
}

async fn next(mock: &MockApns, token: &str) -> MockPush {
    tokio::time::timeout(WAIT, mock.next_push_for(token))
        .await
        .expect("the mock got the push")
}

fn nonce_of(p: &MockPush) -> String {
    p.json.as_ref().unwrap()["notificationData"]["nonce"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn each_notification_reaches_the_device() {
    let s = setup().await;
    let c = client(&s, config());
    let tkn = token("0123456789abcdef0123456789abcdef");
    let code = NtfRegCode::new(b"32 random bytes of the reg code!".to_vec()).unwrap();
    let messages = PnMessages::decode(TWO_MESSAGES.as_bytes()).unwrap();
    let pushes = [
        PushNotification::Verification(code.clone()),
        PushNotification::Messages(messages.clone()),
        PushNotification::CheckMessages,
    ];
    let mut received = Vec::new();
    for pn in &pushes {
        c.push(&tkn, &s.secret, pn).await.unwrap();
        received.push(next(&s.mock, "0123456789abcdef0123456789abcdef").await);
    }
    for p in &received {
        assert_eq!(p.method, "POST");
        assert_eq!(p.path, "/3/device/0123456789abcdef0123456789abcdef");
        assert_eq!(p.header("apns-topic"), Some("chat.simplex.test"));
        assert!(p.header("authorization").unwrap().starts_with("bearer "));
        let jwt = p.jwt.clone().unwrap().unwrap();
        assert_eq!((jwt.kid.as_str(), jwt.iss.as_str()), (KEY_ID, TEAM_ID));
        assert_eq!(p.response, MockResponse::Ok);
        assert_eq!(p.connection, 0);
    }
    let kinds: Vec<_> = received
        .iter()
        .map(|p| (p.header("apns-push-type"), p.header("apns-priority")))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("background"), Some("5")),
            (Some("alert"), None),
            (Some("background"), Some("5"))
        ]
    );
    let got: Vec<_> = received
        .iter()
        .map(|p| s.device.receive(&p.body).unwrap())
        .collect();
    assert_eq!(
        got,
        [
            DevicePush::Verification(code),
            DevicePush::Messages(messages),
            DevicePush::CheckMessages
        ]
    );
    // each encrypted push has its own nonce
    assert_ne!(nonce_of(&received[0]), nonce_of(&received[1]));
    // a device with another secret cannot read it
    assert!(Device::new([0; 32]).receive(&received[0].body).is_err());
    assert_eq!(c.connects(), 1);
}

#[tokio::test]
async fn each_apns_error_maps_as_the_reference() {
    use NtInvalidReason::*;
    let s = setup().await;
    let c = client(&s, config());
    let cases: Vec<(u16, &str, PushError)> = vec![
        (400, "BadDeviceToken", PushError::TokenInvalid(BadToken)),
        (
            400,
            "DeviceTokenNotForTopic",
            PushError::TokenInvalid(TokenNotForTopic),
        ),
        (400, "TopicDisallowed", PushError::Permanent),
        (
            400,
            "BadCollapseId",
            PushError::Response {
                status: 400,
                reason: "BadCollapseId".into(),
            },
        ),
        (403, "ExpiredProviderToken", PushError::Permanent),
        (403, "InvalidProviderToken", PushError::Permanent),
        (410, "ExpiredToken", PushError::TokenInvalid(ExpiredToken)),
        (410, "Unregistered", PushError::TokenInvalid(Unregistered)),
        (410, "Gone", PushError::RetryLater("410 Gone".into())),
        (
            503,
            "ServiceUnavailable",
            PushError::RetryLater("503".into()),
        ),
        (
            429,
            "TooManyRequests",
            PushError::Response {
                status: 429,
                reason: "TooManyRequests".into(),
            },
        ),
        (
            500,
            "InternalServerError",
            PushError::Response {
                status: 500,
                reason: "InternalServerError".into(),
            },
        ),
    ];
    for (i, (status, reason, want)) in cases.into_iter().enumerate() {
        let hex = format!("{i:02x}aabbcc");
        s.mock.respond_to(&hex, MockResponse::error(status, reason));
        let before = c.connects();
        let r = c
            .push(&token(&hex), &s.secret, &PushNotification::CheckMessages)
            .await;
        assert_eq!(r, Err(want.clone()), "{status} {reason}");
        let p = next(&s.mock, &hex).await;
        assert_eq!(p.response, MockResponse::error(status, reason));
        if matches!(want, PushError::RetryLater(_)) {
            // retry-later drops the connection: the next push opens a new one
            c.push(&token("ff"), &s.secret, &PushNotification::CheckMessages)
                .await
                .unwrap();
            next(&s.mock, "ff").await;
            assert_eq!(c.connects(), before + 1, "{status} {reason}");
        }
    }
    // a global answer applies to tokens without their own
    s.mock.respond_all(MockResponse::error(410, "Unregistered"));
    let r = c
        .push(&token("abcd"), &s.secret, &PushNotification::CheckMessages)
        .await;
    assert_eq!(r, Err(PushError::TokenInvalid(Unregistered)));
    s.mock.reset_responses();
    c.push(&token("abcd"), &s.secret, &PushNotification::CheckMessages)
        .await
        .unwrap();
}

#[tokio::test]
async fn provider_token_is_checked_by_the_mock() {
    let s = setup().await;
    // signed with a key the mock does not know
    let other = ApnsClient::new(
        s.mock.endpoint(),
        config(),
        ApnsSigningKey::generate().unwrap(),
    )
    .unwrap();
    let r = other
        .push(&token("aa"), &s.secret, &PushNotification::CheckMessages)
        .await;
    assert_eq!(r, Err(PushError::Permanent));
    let p = next(&s.mock, "aa").await;
    assert_eq!(p.jwt, Some(Err(JwtError::BadSignature)));
    assert_eq!(p.response, MockResponse::error(403, "InvalidProviderToken"));

    // right key, wrong key id
    let wrong_kid = client(
        &s,
        ApnsConfig {
            key_id: "OTHERKEY00".into(),
            ..config()
        },
    );
    let r = wrong_kid
        .push(&token("bb"), &s.secret, &PushNotification::CheckMessages)
        .await;
    assert_eq!(r, Err(PushError::Permanent));
    assert_eq!(
        next(&s.mock, "bb").await.jwt.unwrap().unwrap().kid,
        "OTHERKEY00"
    );

    // the token verifies with the public key, and is reused within its lifetime
    let c = client(&s, config());
    for t in ["c1", "c2"] {
        c.push(&token(t), &s.secret, &PushNotification::CheckMessages)
            .await
            .unwrap();
    }
    let (a, b) = (next(&s.mock, "c1").await, next(&s.mock, "c2").await);
    assert_eq!(a.header("authorization"), b.header("authorization"));
    let bearer = a
        .header("authorization")
        .unwrap()
        .strip_prefix("bearer ")
        .unwrap();
    let jwt = s.key.verifying_key().unwrap().verify(bearer).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - 60..=now).contains(&jwt.iat),
        "iat {} now {now}",
        jwt.iat
    );

    // with no lifetime every push signs a new token: the second one, a second later, has a
    // later `iat` (ES256 signatures are deterministic, RFC 6979: equal claims sign alike)
    let fresh = client(
        &s,
        ApnsConfig {
            token_ttl: Duration::ZERO,
            ..config()
        },
    );
    for t in ["d1", "d2"] {
        fresh
            .push(&token(t), &s.secret, &PushNotification::CheckMessages)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let (a, b) = (next(&s.mock, "d1").await, next(&s.mock, "d2").await);
    assert_ne!(a.header("authorization"), b.header("authorization"));
    assert!(a.jwt.unwrap().is_ok() && b.jwt.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_share_one_connection() {
    let s = setup().await;
    let c = Arc::new(client(&s, config()));
    s.mock
        .respond_all(MockResponse::OkAfter(Duration::from_millis(300)));
    let secret = s.secret;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20u8 {
        let c = c.clone();
        tasks.spawn(async move {
            c.push(
                &token(&format!("{i:02x}")),
                &secret,
                &PushNotification::Verification(NtfRegCode::new(vec![i; 32]).unwrap()),
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let mut codes = Vec::new();
    for i in 0..20u8 {
        let p = next(&s.mock, &format!("{i:02x}")).await;
        assert_eq!(p.connection, 0);
        codes.push(s.device.receive(&p.body).unwrap());
    }
    let want: Vec<_> = (0..20u8)
        .map(|i| DevicePush::Verification(NtfRegCode::new(vec![i; 32]).unwrap()))
        .collect();
    assert_eq!(codes, want);
    assert_eq!(s.mock.connections(), 1);
    assert_eq!(c.connects(), 1);
    // the requests overlapped on the one connection
    assert!(s.mock.max_in_flight() > 1, "{}", s.mock.max_in_flight());
}

#[tokio::test]
async fn reconnects_after_the_mock_closes_the_connection() {
    let s = setup().await;
    let c = client(&s, config());
    let pn = PushNotification::CheckMessages;
    c.push(&token("01"), &s.secret, &pn).await.unwrap();
    assert!(c.is_connected().await);
    s.mock.close_connections();
    let closed = async {
        while c.is_connected().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, closed).await.unwrap();
    c.push(&token("02"), &s.secret, &pn).await.unwrap();
    assert_eq!(next(&s.mock, "02").await.connection, 1);
    assert_eq!((s.mock.connections(), c.connects()), (2, 2));

    // pushing right after the sockets closed, before the client may have noticed: either the
    // request fails before it is sent and goes on a new connection, or it fails as a
    // connection error; the push after it always works
    tokio::time::timeout(WAIT, s.mock.close_connections_and_wait())
        .await
        .unwrap();
    assert_eq!(s.mock.open_connections(), 0);
    match c.push(&token("03"), &s.secret, &pn).await {
        Ok(()) | Err(PushError::Connection(_)) => {}
        Err(e) => panic!("{e}"),
    }
    c.push(&token("04"), &s.secret, &pn).await.unwrap();
    assert_eq!(next(&s.mock, "04").await.connection, 2);
}

#[tokio::test]
async fn hanging_request_times_out_then_a_new_connection_works() {
    let s = setup().await;
    let c = client(
        &s,
        ApnsConfig {
            request_timeout: Duration::from_millis(300),
            ..config()
        },
    );
    s.mock.respond_to("dead", MockResponse::Hang);
    let r = c
        .push(&token("dead"), &s.secret, &PushNotification::CheckMessages)
        .await;
    assert_eq!(r, Err(PushError::Connection(ConnectionError::Timeout)));
    assert_eq!(next(&s.mock, "dead").await.response, MockResponse::Hang);
    c.push(&token("beef"), &s.secret, &PushNotification::CheckMessages)
        .await
        .unwrap();
    assert_eq!(next(&s.mock, "beef").await.connection, 1);
}

#[tokio::test]
async fn dispatcher_routes_by_provider() {
    let s = setup().await;
    let clients = PushClients::new(config(), s.key.clone(), Some(s.mock.endpoint())).unwrap();
    let pn = || PushNotification::CheckMessages;
    let null = DeviceToken::new(PushProvider::ApnsNull, b"test_ntf_token".to_vec()).unwrap();
    PushProviderClient::push(&clients, &null, &s.secret, pn())
        .await
        .unwrap();
    PushProviderClient::push(&clients, &token("a1"), &s.secret, pn())
        .await
        .unwrap();
    // only the apns_test push reached the mock
    assert_eq!(next(&s.mock, "a1").await.path, "/3/device/a1");
    assert_eq!(s.mock.queued(), 0);
    assert!(clients.client(PushProvider::ApnsProd).is_some());
    assert_eq!(
        clients.client(PushProvider::ApnsDev).unwrap().endpoint(),
        &ApnsEndpoint::development()
    );

    let no_test = PushClients::new(config(), s.key.clone(), None).unwrap();
    let r = PushProviderClient::push(&no_test, &token("a2"), &s.secret, pn()).await;
    assert_eq!(
        r,
        Err(PushError::Connection(ConnectionError::NotConfigured(
            PushProvider::ApnsTest
        )))
    );
    let as_dyn: Arc<dyn PushProviderClient> = Arc::new(NullPushClient);
    as_dyn.push(&token("a3"), &s.secret, pn()).await.unwrap();
    assert_eq!(s.mock.queued(), 0);
}

#[tokio::test]
async fn failures_before_the_request() {
    let s = setup().await;
    let c = client(&s, config());
    // a token that is not a path segment never leaves the server
    let bad = DeviceToken::new(PushProvider::ApnsTest, b"ab/../cd".to_vec()).unwrap();
    assert_eq!(
        c.push(&bad, &s.secret, &PushNotification::CheckMessages)
            .await,
        Err(PushError::TokenInvalid(NtInvalidReason::BadToken))
    );
    // a message list that does not fit the padded length
    let small = client(
        &s,
        ApnsConfig {
            padded_len: 64,
            ..config()
        },
    );
    let messages = PnMessages::decode(TWO_MESSAGES.as_bytes()).unwrap();
    assert_eq!(
        small
            .push(
                &token("ee"),
                &s.secret,
                &PushNotification::Messages(messages)
            )
            .await,
        Err(PushError::Crypto(CryptoError::LargeMsg))
    );
    assert_eq!(s.mock.queued(), 0);
    assert_eq!(c.connects() + small.connects(), 0);
}

#[tokio::test]
async fn connection_failures() {
    let s = setup().await;
    // nothing listens on a port just released
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = ApnsClient::new(
        ApnsEndpoint {
            port,
            ..s.mock.endpoint()
        },
        config(),
        s.key.clone(),
    )
    .unwrap();
    let r = refused
        .push(&token("aa"), &s.secret, &PushNotification::CheckMessages)
        .await;
    assert!(
        matches!(r, Err(PushError::Connection(ConnectionError::Connect(_)))),
        "{r:?}"
    );

    // a CA that did not sign the mock's certificate
    let other = MockApns::start(MockConfig::default()).await.unwrap();
    let untrusted = ApnsClient::new(
        ApnsEndpoint {
            ca: CaSource::Pem(other.ca_pem().to_vec()),
            ..s.mock.endpoint()
        },
        config(),
        s.key.clone(),
    )
    .unwrap();
    let r = untrusted
        .push(&token("aa"), &s.secret, &PushNotification::CheckMessages)
        .await;
    assert!(
        matches!(r, Err(PushError::Connection(ConnectionError::Tls(_)))),
        "{r:?}"
    );

    assert_eq!(s.mock.queued(), 0);

    // the CA from a file, and the localhost name, work
    let dir = std::env::temp_dir().join(format!("apns-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, s.mock.ca_pem()).unwrap();
    let by_file = ApnsClient::new(
        ApnsEndpoint {
            host: "localhost".into(),
            port: s.mock.addr().port(),
            ca: CaSource::File(ca_file.clone()),
        },
        config(),
        s.key.clone(),
    )
    .unwrap();
    let r = by_file
        .push(&token("aa"), &s.secret, &PushNotification::CheckMessages)
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    // tokio tries every address localhost resolves to, so ::1 first is no problem
    r.unwrap();
    assert_eq!(next(&s.mock, "aa").await.path, "/3/device/aa");
}

/// Throughput figure, not a check of behaviour beyond every push arriving:
/// `cargo test --release -p ref-server apns::tests::throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_on_one_connection() {
    let s = setup().await;
    let c = Arc::new(client(&s, config()));
    let messages = PnMessages::decode(TWO_MESSAGES.as_bytes()).unwrap();
    let (total, concurrency) = (5000usize, 100usize);
    let start = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (c, secret, messages) = (c.clone(), s.secret, messages.clone());
        tasks.spawn(async move {
            for _ in 0..total / concurrency {
                let pn = PushNotification::Messages(messages.clone());
                c.push(&token(&format!("{w:04x}")), &secret, &pn)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(s.mock.queued(), total);
    assert_eq!(c.connects(), 1);
    println!(
        "{total} message pushes, {concurrency} concurrent, one connection: {elapsed:?}, {:.0} pushes/s (client and mock on 2 cores)",
        total as f64 / elapsed.as_secs_f64()
    );
}
