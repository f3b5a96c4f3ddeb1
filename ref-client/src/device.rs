//! A device simulator: what the app does with a push it receives. Given the token's DH secret,
//! it reads an APNS body, or a Web Push body, and decrypts the verification code or the
//! message list.
//!
//! ```text
//! ; APNS
//! verification   = {"aps":{...},"notificationData":{"nonce":N,"verification":E}}
//! messages       = {"aps":{...},"notificationData":{"message":E,"nonce":N}}
//! check-messages = {"aps":{...},"notificationData":{"checkMessages":true}}
//! ; Web Push (branch dev-wp, wpNotification): RFC 8291 aes128gcm of the data object alone
//! web-push       = aes128gcm(ua keys, {"nonce":N,"verification":E} / {"message":E,"nonce":N}
//!                                     / {"checkMessages":true})
//! N = base64url(nonce)          ; normalised to 24 bytes, as the reference's cbNonce
//! E = base64url(crypto_box(dh secret, N, pad(payload)))
//! ```
//!
//! The DH secret is X25519 of the client's token private key (its public half went in `TNEW`)
//! and the server's key from `IDTKN`. A Web Push device also holds [`WebPushKeys`]: the P-256
//! key pair and the auth secret of its push subscription, whose public parts go in its `WP`
//! token.

use std::fmt;

use ntf_proto::push::{cb_nonce, PnMessages};
use ntf_proto::token::NtfRegCode;
use ntf_proto::webpush::{P256dhKey, WebPushKey, WebPushProvider, WebPushToken};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::SecretKey;
use smp_proto::crypto::{crypto_box_open_padded, dh, CryptoError};
use smp_proto::keys::PublicKey;
use smp_proto::text::base64url_decode;
use smp_proto::DecodeError;

/// A push as the device understands it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevicePush {
    /// The registration code to send back in `TVFY`.
    Verification(NtfRegCode),
    /// Notifications of new messages.
    Messages(PnMessages),
    /// Check all queues for messages.
    CheckMessages,
}

/// Why a push body could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The body is not JSON.
    Json(String),
    /// The JSON is not one of the three push forms; the text says what is missing.
    Shape(&'static str),
    /// A field that must be base64url is not.
    Base64(&'static str),
    /// The ciphertext does not open with this DH secret, or its padding is bad.
    Crypto(CryptoError),
    /// The verification code is longer than 255 bytes.
    CodeTooLong,
    /// The decrypted message list does not parse.
    Messages(DecodeError),
    /// The key from `IDTKN` is not an X25519 key.
    NotX25519,
    /// A Web Push body that does not decrypt with the subscription's keys.
    WebPush(crate::ece::EceError),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => write!(f, "push body is not JSON: {e}"),
            Self::Shape(what) => write!(f, "unexpected push body: {what}"),
            Self::Base64(field) => write!(f, "{field} is not base64url"),
            Self::Crypto(e) => write!(f, "push decryption: {e}"),
            Self::CodeTooLong => f.write_str("verification code longer than 255 bytes"),
            Self::Messages(e) => write!(f, "message list: {e}"),
            Self::NotX25519 => f.write_str("server token key is not X25519"),
            Self::WebPush(e) => write!(f, "web push body: {e}"),
        }
    }
}

impl std::error::Error for DeviceError {}

/// The keys of a Web Push subscription, as a browser or a UnifiedPush distributor makes them
/// (RFC 8291 section 2): a P-256 key pair (`p256dh`) and a 16-byte authentication secret.
#[derive(Clone)]
pub struct WebPushKeys {
    secret: SecretKey,
    auth: [u8; 16],
    ecdh: std::sync::Arc<Option<crate::ece::EcdhKey>>,
}

impl fmt::Debug for WebPushKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebPushKeys(..)")
    }
}

impl WebPushKeys {
    /// Fresh keys from the OS random source.
    pub fn generate() -> Self {
        let mut auth = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut auth);
        Self::new(SecretKey::random(&mut rand_core::OsRng), auth)
    }

    /// Keys from their parts.
    pub fn new(secret: SecretKey, auth: [u8; 16]) -> Self {
        let ecdh = std::sync::Arc::new(crate::ece::EcdhKey::from_secret(&secret));
        Self { secret, auth, ecdh }
    }

    /// The private key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The authentication secret.
    pub fn auth(&self) -> &[u8; 16] {
        &self.auth
    }

    /// The keys a `WP` token carries: `auth` and the uncompressed public point.
    pub fn key(&self) -> WebPushKey {
        let p = match self.ecdh.as_ref() {
            Some(k) => *k.public(),
            None => {
                let mut p = [0u8; 65];
                p.copy_from_slice(self.secret.public_key().to_encoded_point(false).as_bytes());
                p
            }
        };
        WebPushKey { auth: self.auth, p256dh: P256dhKey::Uncompressed(p) }
    }

    /// The `WP` token of the push resource `https://<provider><path>` with these keys;
    /// `None` when the path is longer than the token's form allows.
    pub fn token(&self, provider: WebPushProvider, path: impl Into<Vec<u8>>) -> Option<WebPushToken> {
        WebPushToken::new(provider, path, self.key())
    }

    /// Decrypts a push body (RFC 8291 `aes128gcm`).
    ///
    /// # Errors
    /// [`crate::ece::EceError`] when the body is malformed or not for these keys.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, crate::ece::EceError> {
        match self.ecdh.as_ref() {
            Some(k) => crate::ece::decrypt_key(k, &self.auth, body),
            None => crate::ece::decrypt(&self.secret, &self.auth, body),
        }
    }
}

/// A device holding a registered token's DH secret, and for a Web Push token its
/// subscription's keys.
#[derive(Clone)]
pub struct Device {
    dh_secret: [u8; 32],
    web_push: Option<WebPushKeys>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Device(..)")
    }
}

impl Device {
    /// A device with the token's DH secret.
    pub fn new(dh_secret: [u8; 32]) -> Self {
        Self { dh_secret, web_push: None }
    }

    /// The device of a Web Push token: [`Device::receive`] then reads Web Push bodies,
    /// decrypted with `keys`.
    #[must_use]
    pub fn with_web_push(mut self, keys: WebPushKeys) -> Self {
        self.web_push = Some(keys);
        self
    }

    /// The Web Push subscription's keys, if this is a Web Push device.
    pub fn web_push(&self) -> Option<&WebPushKeys> {
        self.web_push.as_ref()
    }

    /// A device from the client's X25519 private key and the server's key from `IDTKN`.
    ///
    /// # Errors
    /// [`DeviceError::NotX25519`] when the server's key is of another algorithm.
    pub fn from_idtkn(
        client_private: &[u8; 32],
        server_key: &PublicKey,
    ) -> Result<Self, DeviceError> {
        match server_key {
            PublicKey::X25519(k) => Ok(Self::new(dh(k, client_private))),
            _ => Err(DeviceError::NotX25519),
        }
    }

    /// The token's DH secret.
    pub fn dh_secret(&self) -> &[u8; 32] {
        &self.dh_secret
    }

    /// Reads a push body as the app does: an APNS body, or for a Web Push device an RFC 8291
    /// body, decrypted first, whose plaintext is the data object alone.
    ///
    /// The kind is told by `notificationData` (APNS) or the data object (Web Push):
    /// `verification` -> the code, `message` -> the message list, `checkMessages: true` ->
    /// check messages. An APNS body's `aps` must be an object.
    ///
    /// # Errors
    /// [`DeviceError`] for a body that is not one of the three forms or does not decrypt.
    pub fn receive(&self, body: &[u8]) -> Result<DevicePush, DeviceError> {
        if let Some(keys) = &self.web_push {
            let plain = keys.decrypt(body).map_err(DeviceError::WebPush)?;
            let v: serde_json::Value =
                serde_json::from_slice(&plain).map_err(|e| DeviceError::Json(e.to_string()))?;
            let data = v.as_object().ok_or(DeviceError::Shape("not a data object"))?;
            return self.read_data(data);
        }
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| DeviceError::Json(e.to_string()))?;
        if !v.get("aps").is_some_and(serde_json::Value::is_object) {
            return Err(DeviceError::Shape("no aps object"));
        }
        let data = v
            .get("notificationData")
            .and_then(serde_json::Value::as_object)
            .ok_or(DeviceError::Shape("no notificationData object"))?;
        self.read_data(data)
    }

    /// Reads the notification data object (`notificationData` of an APNS body).
    fn read_data(
        &self,
        data: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<DevicePush, DeviceError> {
        if data.get("checkMessages") == Some(&serde_json::Value::Bool(true)) {
            return Ok(DevicePush::CheckMessages);
        }
        let field = |name: &'static str| {
            let s = data
                .get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or(DeviceError::Shape(name))?;
            base64url_decode(s.as_bytes()).map_err(|_| DeviceError::Base64(name))
        };
        let kind = ["verification", "message"]
            .into_iter()
            .find(|k| data.contains_key(*k))
            .ok_or(DeviceError::Shape(
                "no verification, message or checkMessages",
            ))?;
        let nonce = cb_nonce(&field("nonce")?);
        let plain = crypto_box_open_padded(&self.dh_secret, &nonce, &field(kind)?)
            .map_err(DeviceError::Crypto)?;
        if kind == "verification" {
            NtfRegCode::new(plain)
                .map(DevicePush::Verification)
                .ok_or(DeviceError::CodeTooLong)
        } else {
            PnMessages::decode(&plain)
                .map(DevicePush::Messages)
                .map_err(DeviceError::Messages)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp_proto::crypto::{crypto_box_padded, x25519_public};
    use smp_proto::text::base64url_encode;

    const NONCE: [u8; 24] = [3; 24];

    fn body(field: &str, secret: &[u8; 32], plain: &[u8]) -> Vec<u8> {
        let enc = crypto_box_padded(secret, &NONCE, plain, 3072).unwrap();
        serde_json::json!({
            "aps": {"content-available": 1},
            "notificationData": {"nonce": base64url_encode(&NONCE), field: base64url_encode(&enc)},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn dh_secret_agrees_with_the_server_side() {
        let client = [1u8; 32];
        let server = [2u8; 32];
        let device =
            Device::from_idtkn(&client, &PublicKey::X25519(x25519_public(&server))).unwrap();
        assert_eq!(device.dh_secret(), &dh(&x25519_public(&client), &server));
        assert_eq!(
            Device::from_idtkn(&client, &PublicKey::Ed25519([0; 32])).unwrap_err(),
            DeviceError::NotX25519
        );
    }

    #[test]
    fn reads_each_form() {
        let d = Device::new([9; 32]);
        assert_eq!(
            d.receive(&body("verification", &[9; 32], b"code")).unwrap(),
            DevicePush::Verification(NtfRegCode::new(b"code".to_vec()).unwrap())
        );
        let list = "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com:5223/bm90aWZpZXI= -5 bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Uh bWV0YQ==";
        let want = PnMessages::decode(list.as_bytes()).unwrap();
        assert_eq!(
            d.receive(&body("message", &[9; 32], list.as_bytes()))
                .unwrap(),
            DevicePush::Messages(want)
        );
        assert_eq!(
            d.receive(
                br#"{"aps":{"content-available":1},"notificationData":{"checkMessages":true}}"#
            )
            .unwrap(),
            DevicePush::CheckMessages
        );
    }

    #[test]
    fn rejects_bad_bodies() {
        let d = Device::new([9; 32]);
        assert_eq!(
            d.receive(&body("verification", &[8; 32], b"code"))
                .unwrap_err(),
            DeviceError::Crypto(CryptoError::Decrypt)
        );
        assert!(matches!(
            d.receive(&body("message", &[9; 32], b"not a list"))
                .unwrap_err(),
            DeviceError::Messages(_)
        ));
        assert!(matches!(d.receive(b"{").unwrap_err(), DeviceError::Json(_)));
        assert_eq!(
            d.receive(br#"{"notificationData":{}}"#).unwrap_err(),
            DeviceError::Shape("no aps object")
        );
        assert_eq!(
            d.receive(br#"{"aps":{}}"#).unwrap_err(),
            DeviceError::Shape("no notificationData object")
        );
        assert_eq!(
            d.receive(br#"{"aps":{},"notificationData":{"checkMessages":false}}"#)
                .unwrap_err(),
            DeviceError::Shape("no verification, message or checkMessages")
        );
        assert_eq!(
            d.receive(br#"{"aps":{},"notificationData":{"verification":"AAAA"}}"#)
                .unwrap_err(),
            DeviceError::Shape("nonce")
        );
        assert_eq!(
            d.receive(br#"{"aps":{},"notificationData":{"nonce":"!","verification":"AAAA"}}"#)
                .unwrap_err(),
            DeviceError::Base64("nonce")
        );
    }

    /// A Web Push device decrypts the RFC 8291 body, then reads the data object alone (the
    /// branch's `wpEncrypt`: no `aps`, no `notificationData` wrapper).
    #[test]
    fn web_push_device_reads_each_form() {
        let keys = WebPushKeys::generate();
        let d = Device::new([9; 32]).with_web_push(keys.clone());
        let ua = keys.secret().public_key();
        let wp = |plain: &[u8]| crate::ece::encrypt(&ua, keys.auth(), plain).unwrap();
        let enc = crypto_box_padded(&[9; 32], &NONCE, b"code", 2930).unwrap();
        let data = serde_json::json!({"nonce": base64url_encode(&NONCE), "verification": base64url_encode(&enc)});
        assert_eq!(
            d.receive(&wp(data.to_string().as_bytes())).unwrap(),
            DevicePush::Verification(NtfRegCode::new(b"code".to_vec()).unwrap())
        );
        assert_eq!(d.receive(&wp(br#"{"checkMessages":true}"#)).unwrap(), DevicePush::CheckMessages);
        // the token carries the keys' public parts
        let provider = WebPushProvider::new("push.example", "").unwrap();
        let t = keys.token(provider, "/p/1").unwrap();
        assert_eq!(t.key().auth, *keys.auth());
        assert_eq!(t.key().p256dh.as_bytes(), ua.to_encoded_point(false).as_bytes());
        // another subscription's keys, an APNS body, a plaintext that is not an object
        let other = Device::new([9; 32]).with_web_push(WebPushKeys::generate());
        assert_eq!(
            other.receive(&wp(br#"{"checkMessages":true}"#)).unwrap_err(),
            DeviceError::WebPush(crate::ece::EceError::Decrypt)
        );
        assert_eq!(
            d.receive(br#"{"aps":{},"notificationData":{"checkMessages":true}}"#).unwrap_err(),
            DeviceError::WebPush(crate::ece::EceError::BadHeader)
        );
        assert_eq!(d.receive(&wp(b"[1]")).unwrap_err(), DeviceError::Shape("not a data object"));
    }
}
