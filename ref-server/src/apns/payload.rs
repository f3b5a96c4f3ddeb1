//! The APNS request for a push: JSON body, push type and header names, built as the reference's
//! `apnsNotification` and `apnsRequest` do.
//!
//! ```text
//! verification   = {"aps":{"content-available":1},
//!                   "notificationData":{"nonce":N,"verification":E}}
//! messages       = {"aps":{"mutable-content":1,"alert":ALERT,"category":"NTF_CAT_CHECK_MESSAGE"},
//!                   "notificationData":{"message":E,"nonce":N}}
//! check-messages = {"aps":{"content-available":1},"notificationData":{"checkMessages":true}}
//! N = base64url(nonce)                                   ; 24 bytes, padded base64url
//! E = base64url(crypto_box(dh secret, nonce, pad(payload, padded length)))
//! ```
//!
//! Bytes are what aeson 2.2 emits for the reference's values: record fields in declaration order
//! (`aps` then `notificationData`; `mutable-content`, `alert`, `category`) and the keys of the
//! `notificationData` object sorted (aeson's `KeyMap` is an ordered map), no whitespace.

use smp_proto::crypto::{crypto_box_padded, CryptoError, NONCE_LEN};
use smp_proto::text::put_base64url;

/// The length every encrypted payload is padded to before encryption (the reference's
/// `paddedNtfLength`).
pub const PADDED_NTF_LENGTH: usize = 3072;

/// The category of a message push (`ntfCategoryCheckMessage`).
pub const NTF_CATEGORY_CHECK_MESSAGE: &str = "NTF_CAT_CHECK_MESSAGE";

/// The alert text of a message push.
pub const MESSAGE_ALERT_TEXT: &str = "Encrypted message or another app event";

/// Header naming the app bundle id the push is for.
pub const HEADER_APNS_TOPIC: &str = "apns-topic";
/// Header with the push type: `background` or `alert`.
pub const HEADER_APNS_PUSH_TYPE: &str = "apns-push-type";
/// Header with the delivery priority; sent as `5` for background pushes only.
pub const HEADER_APNS_PRIORITY: &str = "apns-priority";
/// Header with the request id Apple answers with.
pub const HEADER_APNS_ID: &str = "apns-id";

/// A push notification to deliver to a device: the server core's type, shared here.
pub use crate::ntf::PushNotification;

/// The APNS push type (the `apns-push-type` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushType {
    /// A silent push that wakes the app (`content-available`); sent with `apns-priority: 5`.
    Background,
    /// A push that shows an alert, which the app's extension may rewrite (`mutable-content`).
    Alert,
}

impl PushType {
    /// The header value: `background` or `alert`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Background => "background",
            Self::Alert => "alert",
        }
    }

    /// The `apns-priority` header value sent with this type, if any (`5` for background).
    pub const fn priority(self) -> Option<&'static str> {
        match self {
            Self::Background => Some("5"),
            Self::Alert => None,
        }
    }
}

/// The body of an APNS request and its push type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApnsPayload {
    /// The `apns-push-type` of the push.
    pub push_type: PushType,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Builds the APNS body of `notification` for a token with DH secret `dh_secret`, encrypting
/// with `nonce` and padding the plaintext to `padded_len` bytes.
///
/// The plaintext is the registration code's bytes for a verification push and the message
/// list's text form (`pn-messages`) for a message push.
///
/// # Errors
/// [`CryptoError::LargeMsg`] when the plaintext does not fit `padded_len - 2` bytes.
pub fn apns_payload(
    dh_secret: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    padded_len: usize,
    notification: &PushNotification,
) -> Result<ApnsPayload, CryptoError> {
    let mut body = Vec::with_capacity(padded_len * 4 / 3 + 256);
    let push_type = match notification {
        PushNotification::Verification(_) | PushNotification::CheckMessages => {
            body.extend_from_slice(br#"{"aps":{"content-available":1},"notificationData":"#);
            PushType::Background
        }
        PushNotification::Messages(_) => {
            body.extend_from_slice(br#"{"aps":{"mutable-content":1,"alert":""#);
            body.extend_from_slice(MESSAGE_ALERT_TEXT.as_bytes());
            body.extend_from_slice(br#"","category":""#);
            body.extend_from_slice(NTF_CATEGORY_CHECK_MESSAGE.as_bytes());
            body.extend_from_slice(br#""},"notificationData":"#);
            PushType::Alert
        }
    };
    put_notification_data(&mut body, dh_secret, nonce, padded_len, notification)?;
    body.push(b'}');
    Ok(ApnsPayload { push_type, body })
}

/// Appends the `notificationData` object of a push (the JSON object the reference builds in
/// `apnsNotification`, and the whole plaintext of a Web Push message in the branch `dev-wp`'s
/// `wpEncrypt`), keys sorted as aeson writes them:
///
/// ```text
/// {"nonce":N,"verification":E} / {"message":E,"nonce":N} / {"checkMessages":true}
/// ```
///
/// # Errors
/// [`CryptoError::LargeMsg`] when the plaintext does not fit `padded_len - 2` bytes.
pub fn put_notification_data(
    out: &mut Vec<u8>,
    dh_secret: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    padded_len: usize,
    notification: &PushNotification,
) -> Result<(), CryptoError> {
    match notification {
        PushNotification::Verification(code) => {
            let enc = crypto_box_padded(dh_secret, nonce, code.as_bytes(), padded_len)?;
            out.extend_from_slice(br#"{"nonce":""#);
            put_base64url(out, nonce);
            out.extend_from_slice(br#"","verification":""#);
            put_base64url(out, &enc);
            out.extend_from_slice(br#""}"#);
        }
        PushNotification::Messages(messages) => {
            let enc = crypto_box_padded(dh_secret, nonce, &messages.to_bytes(), padded_len)?;
            out.extend_from_slice(br#"{"message":""#);
            put_base64url(out, &enc);
            out.extend_from_slice(br#"","nonce":""#);
            put_base64url(out, nonce);
            out.extend_from_slice(br#""}"#);
        }
        PushNotification::CheckMessages => out.extend_from_slice(br#"{"checkMessages":true}"#),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntf_proto::push::PnMessages;
    use ntf_proto::token::NtfRegCode;
    use smp_proto::crypto::crypto_box_open_padded;
    use smp_proto::text::base64url_decode;

    const SECRET: [u8; 32] = [7; 32];
    const NONCE: [u8; NONCE_LEN] = [0xfb; NONCE_LEN];

    fn json(p: &ApnsPayload) -> serde_json::Value {
        serde_json::from_slice(&p.body).unwrap()
    }

    fn open(field: &serde_json::Value) -> Vec<u8> {
        let enc = base64url_decode(field.as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(enc.len(), 16 + PADDED_NTF_LENGTH);
        crypto_box_open_padded(&SECRET, &NONCE, &enc).unwrap()
    }

    #[test]
    fn check_messages_body_is_exact() {
        let p = apns_payload(
            &SECRET,
            &NONCE,
            PADDED_NTF_LENGTH,
            &PushNotification::CheckMessages,
        )
        .unwrap();
        assert_eq!(p.push_type, PushType::Background);
        assert_eq!(
            p.body,
            br#"{"aps":{"content-available":1},"notificationData":{"checkMessages":true}}"#
        );
    }

    #[test]
    fn verification_body_layout_and_ciphertext() {
        let code = NtfRegCode::new(b"registration code".to_vec()).unwrap();
        let p = apns_payload(
            &SECRET,
            &NONCE,
            PADDED_NTF_LENGTH,
            &PushNotification::Verification(code),
        )
        .unwrap();
        assert_eq!(p.push_type, PushType::Background);
        let text = String::from_utf8(p.body.clone()).unwrap();
        // nonce "+/" bytes 0xfb encode to "-_" style base64url, 24 bytes -> 32 chars, no padding
        let prefix = r#"{"aps":{"content-available":1},"notificationData":{"nonce":"-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7","verification":""#;
        assert!(text.starts_with(prefix), "{text}");
        assert!(text.ends_with(r#""}}"#));
        let v = json(&p);
        assert_eq!(
            open(&v["notificationData"]["verification"]),
            b"registration code"
        );
        // the ciphertext is padded base64url (3088 = 3 * 1029 + 1 bytes -> 4120 chars ending "==")
        let enc = v["notificationData"]["verification"].as_str().unwrap();
        assert_eq!(enc.len(), 4120);
        assert!(enc.ends_with("=="));
    }

    #[test]
    fn messages_body_layout_and_ciphertext() {
        let text = "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com:5223/bm90aWZpZXI= -5 bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Uh bWV0YQ==";
        let msgs = PnMessages::decode(text.as_bytes()).unwrap();
        let p = apns_payload(
            &SECRET,
            &NONCE,
            PADDED_NTF_LENGTH,
            &PushNotification::Messages(msgs),
        )
        .unwrap();
        assert_eq!(p.push_type, PushType::Alert);
        let s = String::from_utf8(p.body.clone()).unwrap();
        assert!(s.starts_with(
            r#"{"aps":{"mutable-content":1,"alert":"Encrypted message or another app event","category":"NTF_CAT_CHECK_MESSAGE"},"notificationData":{"message":""#
        ), "{s}");
        assert!(s.ends_with(r#"","nonce":"-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7"}}"#));
        assert_eq!(
            open(&json(&p)["notificationData"]["message"]),
            text.as_bytes()
        );
    }

    #[test]
    fn too_large_payload_is_a_crypto_error() {
        let code = NtfRegCode::new(vec![1; 200]).unwrap();
        assert_eq!(
            apns_payload(&SECRET, &NONCE, 100, &PushNotification::Verification(code)),
            Err(CryptoError::LargeMsg)
        );
    }

    #[test]
    fn push_type_headers() {
        assert_eq!(PushType::Background.as_str(), "background");
        assert_eq!(PushType::Alert.as_str(), "alert");
        assert_eq!(PushType::Background.priority(), Some("5"));
        assert_eq!(PushType::Alert.priority(), None);
    }
}
