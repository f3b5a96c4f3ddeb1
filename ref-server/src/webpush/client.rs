//! The Web Push client: an RFC 8030 `POST` to the token's push resource, as the branch's
//! `wpPushProviderClient`.
//!
//! ```text
//! POST https://<host>[:<port>]<path>
//! TTL: 2592000
//! Urgency: high
//! Content-Encoding: aes128gcm
//! Authorization: vapid t=<JWT>,k=<key>
//! <RFC 8291 body of the notification data>
//! ```
//!
//! HTTP/2 or HTTP/1.1 (ALPN) over OpenSSL TLS by `reqwest` with `native-tls`; redirects are
//! not followed (the branch sets `redirectCount = 0`). Each push service host has its own
//! limit of pushes in flight, and every push has a deadline that includes waiting for that
//! limit, so a push service that hangs holds up only its own pushes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ntf_proto::push::PnMessages;
use ntf_proto::token::DeviceToken;
use ntf_proto::webpush::WebPushToken;
use rand_core::{OsRng, RngCore};
use smp_proto::crypto::CryptoError;
use tokio::sync::Semaphore;

use super::ece;
use super::policy::{p256dh_point, Refusal, WebPushPolicy};
use super::vapid::{VapidCache, VapidKey, DEFAULT_SUBJECT};
use crate::apns::payload::put_notification_data;
use crate::apns::{PushError, PushFuture, PushNotification, PushProviderClient};

/// `TTL` header: 30 days, as the branch.
pub const TTL: &str = "2592000";
/// `Urgency` header, as the branch.
pub const URGENCY: &str = "high";
/// The most bytes of body a push service must take (RFC 8030 section 7.2): FCM and Mozilla's
/// autopush refuse more with `413`.
pub const MAX_BODY: usize = 4096;
/// The length the notification data's plaintext is padded to before `crypto_box`. The branch
/// pads to 3072 (its `paddedNtfLength`), which makes a message push 4280 bytes, over
/// [`MAX_BODY`]; 2930 is the largest length whose every push fits 4096 bytes. The device
/// unpads whatever the length, so this changes nothing for it.
pub const WP_PADDED_NTF_LENGTH: usize = 2930;

/// Settings of the Web Push client (`[webpush]`).
#[derive(Clone, Debug)]
pub struct WebPushConfig {
    /// Which tokens are taken and which hosts pushes may go to.
    pub policy: WebPushPolicy,
    /// The VAPID key.
    pub vapid: VapidKey,
    /// The VAPID `sub` claim.
    pub subject: String,
    /// The deadline of one push: waiting for a slot, connecting, sending, the answer.
    pub timeout: Duration,
    /// Pushes in flight to one push service host.
    pub per_host: usize,
    /// Extra root CAs (PEM, one or more) to trust, e.g. a mock's; the system's roots are
    /// trusted too.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl WebPushConfig {
    /// Defaults (any host, the branch's subject, 10 s, 16 per host) around `vapid`.
    pub fn new(vapid: VapidKey) -> Self {
        Self {
            policy: WebPushPolicy::default(),
            vapid,
            subject: DEFAULT_SUBJECT.into(),
            timeout: Duration::from_secs(10),
            per_host: 16,
            extra_ca_pem: None,
        }
    }
}

/// Maps the push service's answer to a result, as the branch's `toPPWPError` (`http-client`
/// with `parseUrlThrow` throws on every status outside 2xx): 2xx delivered; `410` removed
/// endpoint; `413` request too long; `429` and 5xx retry later (the server pushes once more);
/// any other status (e.g. `404`, `400`, `401`, a redirect) a response error. None of them
/// changes the token's status: the branch has no Web Push answer that makes a token
/// `INVALID`.
///
/// # Errors
/// The [`PushError`] for a status outside 2xx.
pub fn classify_status(status: u16) -> Result<(), PushError> {
    match status {
        200..=299 => Ok(()),
        410 => Err(PushError::WebPushRemovedEndpoint),
        413 => Err(PushError::WebPushRequestTooLong),
        429 => Err(PushError::RetryLater("429".into())),
        500.. => Err(PushError::RetryLater(status.to_string())),
        _ => Err(PushError::Response { status, reason: String::new() }),
    }
}

/// The plaintext of a push: the notification data object. A message list that does not fit
/// [`WP_PADDED_NTF_LENGTH`] loses its oldest messages until it does (the newest is what the
/// device must see); a single message that does not fit is an error.
///
/// # Errors
/// [`CryptoError::LargeMsg`].
pub fn plaintext(dh_secret: &[u8; 32], nonce: &[u8; 24], notification: &PushNotification) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(4096);
    let PushNotification::Messages(list) = notification else {
        put_notification_data(&mut out, dh_secret, nonce, WP_PADDED_NTF_LENGTH, notification)?;
        return Ok(out);
    };
    let all = list.messages();
    for skip in 0..all.len() {
        let Some(m) = PnMessages::new(all[skip..].to_vec()) else { break };
        out.clear();
        match put_notification_data(&mut out, dh_secret, nonce, WP_PADDED_NTF_LENGTH, &PushNotification::Messages(m)) {
            Ok(()) => return Ok(out),
            Err(CryptoError::LargeMsg) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(CryptoError::LargeMsg)
}

/// The Web Push provider client.
#[derive(Debug)]
pub struct WebPushClient {
    config: WebPushConfig,
    http: reqwest::Client,
    vapid: VapidCache,
    hosts: Mutex<HashMap<Vec<u8>, Arc<Semaphore>>>,
}

impl WebPushClient {
    /// A client with `config`.
    ///
    /// # Errors
    /// A message when the extra CA does not parse or the TLS backend cannot start.
    pub fn new(config: WebPushConfig) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("simplex-ntf-rs/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.extra_ca_pem {
            for ca in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("web push CA: {e}"))? {
                b = b.add_root_certificate(ca);
            }
        }
        let http = b.build().map_err(|e| format!("web push HTTP client: {e}"))?;
        let vapid = VapidCache::new(config.vapid.clone(), config.subject.clone());
        Ok(Self { config, http, vapid, hosts: Mutex::new(HashMap::new()) })
    }

    /// The settings.
    pub fn config(&self) -> &WebPushConfig {
        &self.config
    }

    fn host_slots(&self, t: &WebPushToken) -> Arc<Semaphore> {
        let mut h = self.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        h.entry(t.provider().origin())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_host.max(1))))
            .clone()
    }

    /// Sends one push and waits for the answer.
    ///
    /// # Errors
    /// [`PushError::InvalidPusher`] for an APNS token; [`PushError::WebPushInvalidUrl`] for a
    /// token the policy refuses (nothing is sent); [`PushError::Crypto`] when the
    /// notification does not fit; the answer's error ([`classify_status`]);
    /// [`PushError::WebPushOther`] when the request fails or misses its deadline.
    pub async fn push(&self, token: &DeviceToken, dh_secret: &[u8; 32], notification: &PushNotification) -> Result<(), PushError> {
        let Some(t) = token.web_push() else {
            return Err(PushError::InvalidPusher);
        };
        match self.config.policy.check(t) {
            Ok(()) => {}
            Err(Refusal::Key) => return Err(PushError::Crypto(CryptoError::BadKey)),
            Err(_) => return Err(PushError::WebPushInvalidUrl),
        }
        let ua = p256dh_point(&t.key().p256dh).ok_or(PushError::Crypto(CryptoError::BadKey))?;
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let pt = plaintext(dh_secret, &nonce, notification).map_err(PushError::Crypto)?;
        let body = ece::encrypt(&ua, &t.key().auth, &pt).map_err(|_| PushError::Crypto(CryptoError::LargeMsg))?;
        let aud = String::from_utf8_lossy(&t.provider().audience()).into_owned();
        let auth = self.vapid.header(&aud, crate::server::shell::unix_now());
        let url = String::from_utf8_lossy(&t.endpoint()).into_owned();
        let slots = self.host_slots(t);
        let send = async {
            let _slot = slots.acquire().await.map_err(|_| PushError::WebPushOther("closed".into()))?;
            let req = self
                .http
                .post(&url)
                .header("TTL", TTL)
                .header("Urgency", URGENCY)
                .header("Content-Encoding", "aes128gcm")
                .header("Authorization", auth)
                .body(body);
            let resp = req.send().await.map_err(|e| {
                if e.is_builder() {
                    PushError::WebPushInvalidUrl
                } else if e.is_timeout() {
                    PushError::WebPushOther("timeout".into())
                } else {
                    PushError::WebPushOther(e.to_string())
                }
            })?;
            classify_status(resp.status().as_u16())
        };
        match tokio::time::timeout(self.config.timeout, send).await {
            Ok(r) => r,
            Err(_) => Err(PushError::WebPushOther("timeout".into())),
        }
    }
}

impl PushProviderClient for WebPushClient {
    fn push<'a>(&'a self, token: &'a DeviceToken, dh_secret: &'a [u8; 32], notification: PushNotification) -> PushFuture<'a> {
        Box::pin(async move { WebPushClient::push(self, token, dh_secret, &notification).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_as_the_branch() {
        for s in [200, 201, 202, 204] {
            assert_eq!(classify_status(s), Ok(()));
        }
        assert_eq!(classify_status(410), Err(PushError::WebPushRemovedEndpoint));
        assert_eq!(classify_status(413), Err(PushError::WebPushRequestTooLong));
        assert_eq!(classify_status(429), Err(PushError::RetryLater("429".into())));
        for s in [500, 502, 503, 504] {
            assert_eq!(classify_status(s), Err(PushError::RetryLater(s.to_string())));
        }
        for s in [301, 400, 401, 403, 404] {
            assert_eq!(classify_status(s), Err(PushError::Response { status: s, reason: String::new() }));
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use ntf_proto::token::NtfRegCode;

    /// Every push fits the 4096 bytes a push service takes: the largest verification and
    /// message plaintexts, encrypted.
    #[test]
    fn largest_pushes_fit_4096() {
        let code = NtfRegCode::new(vec![7; 32]).unwrap();
        let v = plaintext(&[1; 32], &[2; 24], &PushNotification::Verification(code)).unwrap();
        assert!(v.len() + ece::OVERHEAD <= MAX_BODY, "{}", v.len() + ece::OVERHEAD);
        assert_eq!(v.len() + ece::OVERHEAD, 4093);
        let c = plaintext(&[1; 32], &[2; 24], &PushNotification::CheckMessages).unwrap();
        assert_eq!(c, br#"{"checkMessages":true}"#);
    }
}
