//! A device simulator: what the app does with a push it receives. Given the token's DH secret,
//! it reads an APNS body and decrypts the verification code or the message list.
//!
//! ```text
//! verification   = {"aps":{...},"notificationData":{"nonce":N,"verification":E}}
//! messages       = {"aps":{...},"notificationData":{"message":E,"nonce":N}}
//! check-messages = {"aps":{...},"notificationData":{"checkMessages":true}}
//! N = base64url(nonce)          ; normalised to 24 bytes, as the reference's cbNonce
//! E = base64url(crypto_box(dh secret, N, pad(payload)))
//! ```
//!
//! The DH secret is X25519 of the client's token private key (its public half went in `TNEW`)
//! and the server's key from `IDTKN`.

use std::fmt;

use ntf_proto::push::{cb_nonce, PnMessages};
use ntf_proto::token::NtfRegCode;
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
        }
    }
}

impl std::error::Error for DeviceError {}

/// A device holding a registered token's DH secret.
#[derive(Clone)]
pub struct Device {
    dh_secret: [u8; 32],
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Device(..)")
    }
}

impl Device {
    /// A device with the token's DH secret.
    pub fn new(dh_secret: [u8; 32]) -> Self {
        Self { dh_secret }
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

    /// Reads a push body as the app does.
    ///
    /// The kind is told by `notificationData`: `verification` -> the code, `message` -> the
    /// message list, `checkMessages: true` -> check messages. `aps` must be an object.
    ///
    /// # Errors
    /// [`DeviceError`] for a body that is not one of the three forms or does not decrypt.
    pub fn receive(&self, body: &[u8]) -> Result<DevicePush, DeviceError> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| DeviceError::Json(e.to_string()))?;
        if !v.get("aps").is_some_and(serde_json::Value::is_object) {
            return Err(DeviceError::Shape("no aps object"));
        }
        let data = v
            .get("notificationData")
            .and_then(serde_json::Value::as_object)
            .ok_or(DeviceError::Shape("no notificationData object"))?;
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
}
