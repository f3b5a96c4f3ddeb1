//! The Web Push client against the mock push service: what goes on the wire, what the
//! subscriber decrypts, every status, and a push service that hangs.

use std::time::{Duration, Instant};

use ntf_proto::token::{DeviceToken, NtfRegCode};
use smp_proto::crypto::crypto_box_open_padded;
use smp_proto::text::base64url_decode;

use super::mock::{MockWebPush, WpAnswer};
use super::{classify_status, HostPattern, VapidKey, WebPushClient, WebPushConfig, WebPushPolicy};
use crate::apns::{PushError, PushNotification};

fn client(mock: &MockWebPush, timeout: Duration) -> WebPushClient {
    let mut c = WebPushConfig::new(VapidKey::generate());
    c.extra_ca_pem = Some(mock.ca_pem().to_vec());
    c.timeout = timeout;
    WebPushClient::new(c).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_push_decrypted_by_the_subscriber() {
    let mock = MockWebPush::start().await.unwrap();
    let c = client(&mock, Duration::from_secs(10));
    let (token, _sub) = mock.subscribe("a");
    let token = DeviceToken::WebPush(token);
    let dh_secret = [5u8; 32];
    let code = NtfRegCode::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    c.push(&token, &dh_secret, &PushNotification::Verification(code.clone())).await.unwrap();
    let p = mock.next_push().await;
    assert_eq!(p.path, "/push/a");
    assert_eq!(p.version, "HTTP/2.0");
    assert_eq!(p.header("ttl"), Some("2592000"));
    assert_eq!(p.header("urgency"), Some("high"));
    assert_eq!(p.header("content-encoding"), Some("aes128gcm"));
    assert!(p.body.len() <= 4096);
    // VAPID: the audience is the origin without the port, as the branch's wpAud
    let auth = p.header("authorization").unwrap();
    let jwt = auth.strip_prefix("vapid t=").unwrap().split(['.', ',']).nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&base64url_decode(jwt.as_bytes()).unwrap()).unwrap();
    assert_eq!(claims["aud"], "https://127.0.0.1");
    assert!(auth.ends_with(&format!(",k={}", c.config().vapid.public_b64())));
    // the subscriber decrypts the RFC 8291 body, then the notification data with the DH secret
    let pt = p.plaintext.unwrap().unwrap();
    let data: serde_json::Value = serde_json::from_slice(&pt).unwrap();
    let nonce: [u8; 24] = base64url_decode(data["nonce"].as_str().unwrap().as_bytes()).unwrap().try_into().unwrap();
    let enc = base64url_decode(data["verification"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(crypto_box_open_padded(&dh_secret, &nonce, &enc).unwrap(), code.as_bytes());
    c.push(&token, &dh_secret, &PushNotification::CheckMessages).await.unwrap();
    let p = mock.next_push().await;
    assert_eq!(p.plaintext.unwrap().unwrap(), br#"{"checkMessages":true}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_end_to_end() {
    let mock = MockWebPush::start().await.unwrap();
    let c = client(&mock, Duration::from_secs(10));
    let (token, _) = mock.subscribe("s");
    let token = DeviceToken::WebPush(token);
    for status in [201, 202, 400, 404, 410, 413, 429, 500, 503] {
        mock.respond_all(WpAnswer::Status(status));
        let r = c.push(&token, &[1; 32], &PushNotification::CheckMessages).await;
        assert_eq!(r, classify_status(status), "{status}");
        mock.next_push().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_sent_to_a_host_not_allowed() {
    let mock = MockWebPush::start().await.unwrap();
    let mut cfg = WebPushConfig::new(VapidKey::generate());
    cfg.extra_ca_pem = Some(mock.ca_pem().to_vec());
    cfg.policy = WebPushPolicy { allowed_hosts: vec![HostPattern::parse("*.push.example").unwrap()] };
    let c = WebPushClient::new(cfg).unwrap();
    let (token, _) = mock.subscribe("x");
    let r = c.push(&DeviceToken::WebPush(token), &[1; 32], &PushNotification::CheckMessages).await;
    assert_eq!(r, Err(PushError::WebPushInvalidUrl));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(mock.try_next_push().is_none());
    // an APNS token is not for this client
    let apns = DeviceToken::new(ntf_proto::token::PushProvider::ApnsTest, b"ab".to_vec()).unwrap();
    assert_eq!(c.push(&apns, &[1; 32], &PushNotification::CheckMessages).await, Err(PushError::InvalidPusher));
}

/// A push service that hangs: its pushes end at the deadline, with its per-host slots full;
/// pushes to another push service (here the same mock reached by another name, so another
/// origin with its own slots) are answered at once meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_push_service_holds_up_only_its_own_pushes() {
    use ntf_proto::webpush::{WebPushProvider, WebPushToken};
    let mock = MockWebPush::start().await.unwrap();
    mock.respond_to("/push/h", WpAnswer::Hang);
    let mut cfg = WebPushConfig::new(VapidKey::generate());
    cfg.timeout = Duration::from_secs(2);
    cfg.per_host = 4;
    cfg.extra_ca_pem = Some(mock.ca_pem().to_vec());
    let c = std::sync::Arc::new(WebPushClient::new(cfg).unwrap());
    let (ht, _) = mock.subscribe("h");
    let ht = DeviceToken::WebPush(ht);
    let start = Instant::now();
    let mut hanging = Vec::new();
    for _ in 0..20 {
        let (c, t) = (c.clone(), ht.clone());
        hanging.push(tokio::spawn(async move { c.push(&t, &[1; 32], &PushNotification::CheckMessages).await }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ft, _) = mock.subscribe("f");
    let other = WebPushProvider::new("localhost", mock.addr().port().to_string()).unwrap();
    let ft = DeviceToken::WebPush(WebPushToken::new(other, ft.path(), *ft.key()).unwrap());
    let t0 = Instant::now();
    for _ in 0..10 {
        c.push(&ft, &[1; 32], &PushNotification::CheckMessages).await.unwrap();
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "pushes to a working service waited: {:?}", t0.elapsed());
    for h in hanging {
        assert_eq!(h.await.unwrap(), Err(PushError::WebPushOther("timeout".into())));
    }
    // all ended by their deadline, waiting for a slot included
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
}
