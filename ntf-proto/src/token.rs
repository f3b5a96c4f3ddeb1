//! Device tokens, push providers, token statuses and registration codes.
//!
//! ```text
//! push-provider      = "AD" / "AP" / "AT" / "AN"          ; binary, 2 bytes
//! push-provider-text = "apns_dev" / "apns_prod" / "apns_test" / "apns_null"
//! device-token       = push-provider short-bytes          ; binary
//! device-token-text  = "apns_null test_ntf_token"
//!                    / push-provider-text " " *(2 lower-hex-digit)
//! invalid-reason     = "BAD" / "TOPIC" / "EXPIRED" / "UNREGISTERED"
//! token-status       = "NEW" / "REGISTERED" / "INVALID" ["," invalid-reason]
//!                    / "CONFIRMED" / "ACTIVE" / "EXPIRED"
//! reg-code           = short-bytes
//! ```
//!
//! The token of a device token is kept as raw bytes: real APNS tokens travel as their ASCII hex
//! text, so the bytes are that text, not the decoded hex.

use alloc::vec::Vec;
use core::fmt;

use smp_proto::coding::{put_short, Decode, Encode, Reader};
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};

use crate::version::{self, Version};
use crate::webpush::{WebPushKey, WebPushProvider, WebPushToken};

/// A push notification provider.
///
/// ```text
/// binary: "AD" / "AP" / "AT" / "AN"
/// text:   "apns_dev" / "apns_prod" / "apns_test" / "apns_null"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PushProvider {
    /// Apple development environment (`AD`, `apns_dev`).
    ApnsDev,
    /// Apple production environment, including TestFlight (`AP`, `apns_prod`).
    ApnsProd,
    /// An APNS mock server for tests (`AT`, `apns_test`).
    ApnsTest,
    /// No provider: lets clients test a server without APNS (`AN`, `apns_null`).
    ApnsNull,
}

impl PushProvider {
    /// All providers.
    pub const ALL: [PushProvider; 4] = [
        Self::ApnsDev,
        Self::ApnsProd,
        Self::ApnsTest,
        Self::ApnsNull,
    ];

    /// The 2-byte binary code.
    pub const fn code(self) -> &'static [u8; 2] {
        match self {
            Self::ApnsDev => b"AD",
            Self::ApnsProd => b"AP",
            Self::ApnsTest => b"AT",
            Self::ApnsNull => b"AN",
        }
    }

    /// The provider for a 2-byte binary code.
    pub fn from_code(code: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The text name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ApnsDev => "apns_dev",
            Self::ApnsProd => "apns_prod",
            Self::ApnsTest => "apns_test",
            Self::ApnsNull => "apns_null",
        }
    }

    /// The provider for a text name.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name().as_bytes() == name)
    }

    /// Parses the text name: the bytes up to the next space (or the end) must be a name.
    ///
    /// ```text
    /// push-provider-text = "apns_dev" / "apns_prod" / "apns_test" / "apns_null"
    /// ```
    ///
    /// # Errors
    /// `BadValue` for any other word.
    pub fn parse_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let at = r.offset();
        let word = r.take_till(|b| b == b' ');
        Self::from_name(word).ok_or(DecodeError::new(
            DecodeErrorKind::BadValue,
            at,
            "push provider name",
        ))
    }
}

impl fmt::Display for PushProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Encode for PushProvider {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.code());
    }
}

impl<'a> Decode<'a> for PushProvider {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let code = r.take(2, "push provider")?;
        Self::from_code(code).ok_or(DecodeError::new(
            DecodeErrorKind::BadValue,
            at,
            "push provider code",
        ))
    }
}

/// A device token: an APNS provider and the provider's token for the device, or a Web Push
/// subscription (the branch `dev-wp`'s `APNSDeviceToken` / `WPDeviceToken`).
///
/// ```text
/// binary: apns-token / wp-token
/// apns-token = push-provider short-bytes
/// wp-token   = wp-provider short-bytes(path) wp-key          ; see crate::webpush
/// text:   "apns_null test_ntf_token" / push-provider-text " " *(2 lower-hex-digit)
///       / wp-token-text
/// ```
///
/// The binary decoder reads an APNS provider when the first byte is `A` and a Web Push
/// provider otherwise, as the branch's `smpP` of `PushProvider` does; the text decoder does
/// the same on `a`. Every field fits its 1-byte length, so the binary form always encodes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceToken {
    /// An Apple Push Notification service token.
    Apns(ApnsToken),
    /// A Web Push subscription (RFC 8030 push resource and RFC 8291 keys).
    WebPush(WebPushToken),
}

/// An APNS device token: the provider and the raw token bytes.
///
/// ```text
/// binary: push-provider short-bytes
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApnsToken {
    provider: PushProvider,
    token: Vec<u8>,
}

impl ApnsToken {
    /// The push provider.
    pub const fn provider(&self) -> PushProvider {
        self.provider
    }

    /// The raw token bytes (the ASCII hex text of the token).
    pub fn token(&self) -> &[u8] {
        &self.token
    }
}

impl DeviceToken {
    /// Longest APNS token (the binary form has a 1-byte length).
    pub const MAX_LEN: usize = 255;

    /// The token the reference's null provider uses in tests (`apns_null test_ntf_token`).
    pub const NULL_TEST_TOKEN: &'static [u8] = b"test_ntf_token";

    /// An APNS device token; `None` when `token` is longer than [`DeviceToken::MAX_LEN`].
    pub fn new(provider: PushProvider, token: impl Into<Vec<u8>>) -> Option<Self> {
        let token = token.into();
        (token.len() <= Self::MAX_LEN).then_some(Self::Apns(ApnsToken { provider, token }))
    }

    /// The APNS provider, `None` for a Web Push token.
    pub const fn apns_provider(&self) -> Option<PushProvider> {
        match self {
            Self::Apns(t) => Some(t.provider),
            Self::WebPush(_) => None,
        }
    }

    /// A short name of the provider for logs and metrics: the APNS provider's text name, or
    /// `webpush`.
    pub const fn provider_name(&self) -> &'static str {
        match self {
            Self::Apns(t) => t.provider.name(),
            Self::WebPush(_) => "webpush",
        }
    }

    /// The raw APNS token bytes, `None` for a Web Push token.
    pub fn apns_token(&self) -> Option<&[u8]> {
        match self {
            Self::Apns(t) => Some(&t.token),
            Self::WebPush(_) => None,
        }
    }

    /// The Web Push token, `None` for an APNS token.
    pub const fn web_push(&self) -> Option<&WebPushToken> {
        match self {
            Self::Apns(_) => None,
            Self::WebPush(t) => Some(t),
        }
    }

    /// The provider's text name: `apns_*`, or `webpush https://host[:port]` (the branch's
    /// `strEncode PushProvider`, the store's `push_provider` column).
    pub fn provider_text(&self) -> Vec<u8> {
        match self {
            Self::Apns(t) => t.provider.name().as_bytes().to_vec(),
            Self::WebPush(t) => {
                let mut v = Vec::new();
                t.provider().encode_text(&mut v);
                v
            }
        }
    }

    /// The two store columns (the branch's `deviceTokenFields`): the provider text and the
    /// token bytes: the raw APNS token, or a Web Push token's path and keys in text form
    /// ([`WebPushToken::params_text`]).
    pub fn store_fields(&self) -> (Vec<u8>, Vec<u8>) {
        let token = match self {
            Self::Apns(t) => t.token.clone(),
            Self::WebPush(t) => t.params_text(),
        };
        (self.provider_text(), token)
    }

    /// The token for its two store columns (the branch's `deviceToken'`). The Web Push
    /// endpoint is not checked again.
    ///
    /// # Errors
    /// `BadValue` for an unknown provider, the text errors of the Web Push fields,
    /// `BadLength` for an APNS token over 255 bytes.
    pub fn from_store_fields(provider: &[u8], token: &[u8]) -> DecodeResult<Self> {
        if let Some(p) = PushProvider::from_name(provider) {
            return Self::new(p, token).ok_or(DecodeError::new(
                DecodeErrorKind::BadLength,
                0,
                "device token of at most 255 bytes",
            ));
        }
        let mut r = Reader::new(provider);
        let wp = WebPushProvider::parse_text(&mut r)?;
        r.finish()?;
        let mut r = Reader::new(token);
        let path = r.take_till(|b| b == b' ');
        let path = path.to_vec();
        r.space()?;
        let key = WebPushKey::parse_text(&mut r)?;
        r.finish()?;
        WebPushToken::new(wp, path, key)
            .map(Self::WebPush)
            .ok_or(DecodeError::new(
                DecodeErrorKind::BadLength,
                0,
                "web push path of at most 255 bytes",
            ))
    }

    /// Appends the text form: an APNS provider name, a space and the raw token bytes; or the
    /// Web Push text form.
    ///
    /// ```text
    /// device-token-text = push-provider-text " " token / wp-token-text
    /// ```
    pub fn encode_text(&self, out: &mut Vec<u8>) {
        match self {
            Self::Apns(t) => {
                out.extend_from_slice(t.provider.name().as_bytes());
                out.push(b' ');
                out.extend_from_slice(&t.token);
            }
            Self::WebPush(t) => t.encode_text(out),
        }
    }

    /// The text form as a new vector.
    pub fn to_text(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_text(&mut v);
        v
    }

    /// Parses the text form from the front of `r`.
    ///
    /// ```text
    /// device-token-text = "apns_null test_ntf_token"
    ///                   / push-provider-text " " *(2 lower-hex-digit)
    ///                   / wp-token-text
    /// ```
    ///
    /// As in the reference, the literal null test token wins when the input starts with it,
    /// and the hex run is the longest run of `0-9a-f` (possibly empty), which must have an even
    /// length. The bytes kept are the hex text itself. Input not starting with `a` is a Web
    /// Push token ([`WebPushToken::parse_text`], endpoint checked).
    ///
    /// # Errors
    /// `BadValue` for an unknown provider or an odd hex run, `Truncated` when the space is
    /// missing at the end, `BadLength` for a token longer than [`DeviceToken::MAX_LEN`] (a cap
    /// the reference's text parser does not have; its binary form could not carry it); the
    /// Web Push errors.
    pub fn parse_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        if r.eat_slice(b"apns_null test_ntf_token") {
            return Ok(Self::Apns(ApnsToken {
                provider: PushProvider::ApnsNull,
                token: Self::NULL_TEST_TOKEN.into(),
            }));
        }
        if r.peek() != Some(b'a') {
            return WebPushToken::parse_text(r).map(Self::WebPush);
        }
        let provider = PushProvider::parse_text(r)?;
        r.space()?;
        let at = r.offset();
        let hex = r.take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex.len() % 2 != 0 {
            return Err(DecodeError::new(
                DecodeErrorKind::BadValue,
                at,
                "even number of hex characters",
            ));
        }
        if hex.len() > Self::MAX_LEN {
            return Err(DecodeError::new(
                DecodeErrorKind::BadLength,
                at,
                "device token of at most 255 bytes",
            ));
        }
        Ok(Self::Apns(ApnsToken {
            provider,
            token: hex.into(),
        }))
    }

    /// Parses a text form that must span the whole input.
    ///
    /// # Errors
    /// As [`DeviceToken::parse_text`], or `TrailingBytes`.
    pub fn from_text(text: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(text);
        let t = Self::parse_text(&mut r)?;
        r.finish()?;
        Ok(t)
    }
}

impl Encode for DeviceToken {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Apns(t) => {
                t.provider.encode(out);
                put_short(out, &t.token);
            }
            Self::WebPush(t) => t.encode(out),
        }
    }
}

impl<'a> Decode<'a> for DeviceToken {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        if r.peek().is_some_and(|b| b != b'A') {
            return WebPushToken::decode(r).map(Self::WebPush);
        }
        let provider = PushProvider::decode(r)?;
        let token = r.short_bytes("device token")?;
        Ok(Self::Apns(ApnsToken {
            provider,
            token: token.into(),
        }))
    }
}

/// Why a token became invalid (reported by the push provider).
///
/// ```text
/// invalid-reason = "BAD" / "TOPIC" / "EXPIRED" / "UNREGISTERED"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtInvalidReason {
    /// The provider rejected the token (`BAD`).
    BadToken,
    /// The token is not for the app's topic (`TOPIC`).
    TokenNotForTopic,
    /// The token expired (`EXPIRED`).
    ExpiredToken,
    /// The device unregistered the token (`UNREGISTERED`).
    Unregistered,
}

impl NtInvalidReason {
    /// All reasons.
    pub const ALL: [NtInvalidReason; 4] = [
        Self::BadToken,
        Self::TokenNotForTopic,
        Self::ExpiredToken,
        Self::Unregistered,
    ];

    /// The wire text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadToken => "BAD",
            Self::TokenNotForTopic => "TOPIC",
            Self::ExpiredToken => "EXPIRED",
            Self::Unregistered => "UNREGISTERED",
        }
    }

    /// The reason for a wire word.
    pub fn from_word(word: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().as_bytes() == word)
    }
}

impl fmt::Display for NtInvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Encode for NtInvalidReason {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }
}

impl<'a> Decode<'a> for NtInvalidReason {
    /// The word up to the next space (or the end).
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let word = r.take_till(|b| b == b' ');
        Self::from_word(word).ok_or(DecodeError::new(
            DecodeErrorKind::BadValue,
            at,
            "token invalid reason",
        ))
    }
}

/// The status of a device token on the notification server.
///
/// ```text
/// token-status = "NEW" / "REGISTERED" / "INVALID" ["," invalid-reason]
///              / "CONFIRMED" / "ACTIVE" / "EXPIRED"
/// ```
///
/// Below NTF v3 the server sends `INVALID` without its reason
/// ([`NtfTknStatus::for_version`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtfTknStatus {
    /// Created in the store (`NEW`).
    New,
    /// Registered by `TNEW` (`REGISTERED`).
    Registered,
    /// The first notification or the verification failed (`INVALID`, optionally with the reason).
    Invalid(Option<NtInvalidReason>),
    /// Confirmed by the push provider or by the client's verification code (`CONFIRMED`).
    Confirmed,
    /// Verified with `TVFY` (`ACTIVE`).
    Active,
    /// No longer valid at the push provider (`EXPIRED`).
    Expired,
}

impl NtfTknStatus {
    /// Whether `TVFY` is accepted in this status (`allowTokenVerification`).
    pub const fn allow_token_verification(&self) -> bool {
        matches!(self, Self::Registered | Self::Confirmed | Self::Active)
    }

    /// Whether subscription commands are accepted for a token in this status
    /// (`allowNtfSubCommands`).
    pub const fn allow_ntf_sub_commands(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::Active | Self::Expired)
    }

    /// The status as sent to a client at NTF version `v`: below v3 `INVALID` drops its reason.
    pub fn for_version(self, v: Version) -> Self {
        match self {
            Self::Invalid(Some(_)) if !version::sends_invalid_reason(v) => Self::Invalid(None),
            s => s,
        }
    }

    /// The keyword (without an `INVALID` reason).
    pub const fn keyword(&self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Registered => "REGISTERED",
            Self::Invalid(_) => "INVALID",
            Self::Confirmed => "CONFIRMED",
            Self::Active => "ACTIVE",
            Self::Expired => "EXPIRED",
        }
    }

    /// Parses a wire text that must span the whole input (as in the JSON forms).
    ///
    /// # Errors
    /// As [`Decode::decode`], or `TrailingBytes`.
    pub fn from_text(text: &[u8]) -> DecodeResult<Self> {
        Self::decode_exact(text)
    }
}

impl fmt::Display for NtfTknStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        if let Self::Invalid(Some(r)) = self {
            write!(f, ",{r}")?;
        }
        Ok(())
    }
}

impl Encode for NtfTknStatus {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.keyword().as_bytes());
        if let Self::Invalid(Some(r)) = self {
            out.push(b',');
            r.encode(out);
        }
    }
}

impl<'a> Decode<'a> for NtfTknStatus {
    /// The keyword runs to the next space or comma; after `INVALID` an optional `,reason`
    /// (left unread when it is not a known reason, as the reference's `optional` does).
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let word = r.take_till(|b| b == b' ' || b == b',');
        Ok(match word {
            b"NEW" => Self::New,
            b"REGISTERED" => Self::Registered,
            b"INVALID" => {
                let cp = r.checkpoint();
                let reason = if r.eat(b',') {
                    match NtInvalidReason::decode(r) {
                        Ok(reason) => Some(reason),
                        Err(_) => {
                            r.restore(cp);
                            None
                        }
                    }
                } else {
                    None
                };
                Self::Invalid(reason)
            }
            b"CONFIRMED" => Self::Confirmed,
            b"ACTIVE" => Self::Active,
            b"EXPIRED" => Self::Expired,
            _ => {
                return Err(DecodeError::new(
                    DecodeErrorKind::BadValue,
                    at,
                    "token status",
                ))
            }
        })
    }
}

/// A token verification code, sent to the device in a push notification and back with `TVFY`.
///
/// ```text
/// reg-code = short-bytes
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NtfRegCode(Vec<u8>);

impl NtfRegCode {
    /// Longest code (1-byte length).
    pub const MAX_LEN: usize = 255;

    /// A code; `None` when longer than [`NtfRegCode::MAX_LEN`].
    pub fn new(code: impl Into<Vec<u8>>) -> Option<Self> {
        let code = code.into();
        (code.len() <= Self::MAX_LEN).then_some(Self(code))
    }

    /// The code bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for NtfRegCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtfRegCode({} bytes)", self.0.len())
    }
}

impl Encode for NtfRegCode {
    fn encode(&self, out: &mut Vec<u8>) {
        put_short(out, &self.0);
    }
}

impl<'a> Decode<'a> for NtfRegCode {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        Ok(Self(r.short_bytes("registration code")?.into()))
    }
}

#[cfg(feature = "arbitrary")]
mod arb {
    use super::*;
    use arbitrary::{Arbitrary, Result, Unstructured};

    fn short(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
        let n = u.int_in_range(0..=255usize)?;
        Ok(u.bytes(n.min(u.len()))?.into())
    }

    impl<'a> Arbitrary<'a> for DeviceToken {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            if u.ratio(1, 4)? {
                return Ok(DeviceToken::WebPush(WebPushToken::arbitrary(u)?));
            }
            Ok(DeviceToken::Apns(ApnsToken {
                provider: PushProvider::arbitrary(u)?,
                token: short(u)?,
            }))
        }
    }

    impl<'a> Arbitrary<'a> for NtfRegCode {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(NtfRegCode(short(u)?))
        }
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON forms: device token `{"provider": "AD", "token": HEX}`, token status as its wire
    //! text, registration code as hex.
    use super::*;
    use alloc::string::String;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use smp_proto::json::{hex_decode, hex_encode};

    /// `{"provider": "AD", "token": HEX}`, or for Web Push `{"provider": "WP", "host": S,
    /// "port": S, "path": S, "auth": HEX, "p256dh": HEX}` where each byte of a string `S` is
    /// the character of that code point (Latin-1, as the reference's `Char8` view).
    #[derive(Serialize, Deserialize)]
    struct TokenJson {
        provider: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p256dh: Option<String>,
    }

    fn latin1(b: &[u8]) -> String {
        b.iter().map(|&c| char::from(c)).collect()
    }

    fn from_latin1<E: serde::de::Error>(s: &str) -> Result<Vec<u8>, E> {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| E::custom("character above U+00FF")))
            .collect()
    }

    impl Serialize for DeviceToken {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let j = match self {
                DeviceToken::Apns(t) => TokenJson {
                    provider: String::from(
                        core::str::from_utf8(t.provider.code()).unwrap_or_default(),
                    ),
                    token: Some(hex_encode(&t.token)),
                    host: None,
                    port: None,
                    path: None,
                    auth: None,
                    p256dh: None,
                },
                DeviceToken::WebPush(t) => TokenJson {
                    provider: "WP".into(),
                    token: None,
                    host: Some(latin1(t.provider().host())),
                    port: Some(latin1(t.provider().port())),
                    path: Some(latin1(t.path())),
                    auth: Some(hex_encode(&t.key().auth)),
                    p256dh: Some(hex_encode(t.key().p256dh.as_bytes())),
                },
            };
            j.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for DeviceToken {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = TokenJson::deserialize(d)?;
            let need = |v: Option<String>, f: &'static str| {
                v.ok_or_else(|| D::Error::custom(alloc::format!("missing field {f}")))
            };
            if j.provider == "WP" {
                let host = from_latin1::<D::Error>(&need(j.host, "host")?)?;
                let port = from_latin1::<D::Error>(&need(j.port, "port")?)?;
                let path = from_latin1::<D::Error>(&need(j.path, "path")?)?;
                let auth = hex_decode(&need(j.auth, "auth")?).map_err(D::Error::custom)?;
                let auth: [u8; 16] = auth
                    .try_into()
                    .map_err(|_| D::Error::custom("auth of 16 bytes"))?;
                let p256dh = hex_decode(&need(j.p256dh, "p256dh")?).map_err(D::Error::custom)?;
                let p256dh = crate::webpush::P256dhKey::from_bytes(&p256dh)
                    .map_err(D::Error::custom)?;
                let provider = WebPushProvider::new(host, port)
                    .ok_or_else(|| D::Error::custom("host or port longer than 255 bytes"))?;
                return WebPushToken::new(provider, path, WebPushKey { auth, p256dh })
                    .map(DeviceToken::WebPush)
                    .ok_or_else(|| D::Error::custom("path longer than 255 bytes"));
            }
            let provider = PushProvider::from_code(j.provider.as_bytes())
                .ok_or_else(|| D::Error::custom("unknown push provider"))?;
            let token = hex_decode(&need(j.token, "token")?).map_err(D::Error::custom)?;
            DeviceToken::new(provider, token)
                .ok_or_else(|| D::Error::custom("device token longer than 255 bytes"))
        }
    }

    impl Serialize for NtfTknStatus {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for NtfTknStatus {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            NtfTknStatus::from_text(s.as_bytes()).map_err(D::Error::custom)
        }
    }

    impl Serialize for NtfRegCode {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex_encode(&self.0))
        }
    }

    impl<'de> Deserialize<'de> for NtfRegCode {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            NtfRegCode::new(hex_decode(&s).map_err(D::Error::custom)?)
                .ok_or_else(|| D::Error::custom("registration code longer than 255 bytes"))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn decode_device_token_text_vectors() {
        // device_token/str/apns_dev/1/p
        let t = DeviceToken::from_text(
            b"apns_dev 66d13e86f15b04017f6376a695542d14197e5d4705bcdbccb802bb2eed3ccc76",
        )
        .unwrap();
        assert_eq!(t.apns_provider().unwrap(), PushProvider::ApnsDev);
        assert_eq!(
            t.apns_token().unwrap(),
            b"66d13e86f15b04017f6376a695542d14197e5d4705bcdbccb802bb2eed3ccc76"
        );
        assert_eq!(
            t.to_text(),
            b"apns_dev 66d13e86f15b04017f6376a695542d14197e5d4705bcdbccb802bb2eed3ccc76"
        );
        // device_token/str/apns_prod/1/p
        let s = b"apns_prod 3c2c2e9a24a9b097d6b084a17bfcb5744849d4556b826867093c18b68a1101de";
        let t = DeviceToken::from_text(s).unwrap();
        assert_eq!(t.apns_provider().unwrap(), PushProvider::ApnsProd);
        assert_eq!(t.apns_token().unwrap(), &s[10..]);
        assert_eq!(t.to_text(), s);
        // device_token/str/apns_test/1/p
        let s = b"apns_test 5b7b6068c196ca1c53bcba08028795d118d489fd848f009d28877d5aa6b7422c";
        let t = DeviceToken::from_text(s).unwrap();
        assert_eq!(t.apns_provider().unwrap(), PushProvider::ApnsTest);
        assert_eq!(t.to_text(), s);
        // device_token/str/apns_null_test_token/p
        let t = DeviceToken::from_text(b"apns_null test_ntf_token").unwrap();
        assert_eq!(
            t,
            DeviceToken::new(
                PushProvider::ApnsNull,
                hex::decode("746573745f6e74665f746f6b656e").unwrap()
            )
            .unwrap()
        );
        assert_eq!(t.to_text(), b"apns_null test_ntf_token");
        // device_token/str/empty_token/p
        let t = DeviceToken::from_text(b"apns_prod ").unwrap();
        assert_eq!(t, DeviceToken::new(PushProvider::ApnsProd, vec![]).unwrap());
        assert_eq!(t.to_text(), b"apns_prod ");
    }

    #[test]
    fn rejects_invalid_device_token_text() {
        // device_token/str/invalid/odd_hex/p
        let e = DeviceToken::from_text(
            b"apns_prod 490ea294dd3c34b5031ccbfbe0a84ee7915b3210ed6c920feca2bd929f8405e",
        )
        .unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::BadValue);
        // device_token/str/invalid/provider_only/p
        assert_eq!(
            DeviceToken::from_text(b"apns_prod").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        assert_eq!(
            DeviceToken::from_text(b"apns_x 00").unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
        // upper-case hex stops the run: trailing bytes
        assert_eq!(
            DeviceToken::from_text(b"apns_prod 00A").unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        // the literal null token wins, so anything after it is trailing
        assert_eq!(
            DeviceToken::from_text(b"apns_null test_ntf_token00")
                .unwrap_err()
                .kind,
            DecodeErrorKind::TrailingBytes
        );
        // apns_null with a hex token is an ordinary token
        assert_eq!(
            DeviceToken::from_text(b"apns_null ab12").unwrap().apns_token().unwrap(),
            b"ab12"
        );
        let long = [b'a'; 256];
        let mut s = b"apns_dev ".to_vec();
        s.extend_from_slice(&long);
        assert_eq!(
            DeviceToken::from_text(&s).unwrap_err().kind,
            DecodeErrorKind::BadLength
        );
    }

    #[test]
    fn device_token_binary() {
        let t = DeviceToken::new(PushProvider::ApnsTest, b"ab".to_vec()).unwrap();
        assert_eq!(t.to_bytes(), b"AT\x02ab");
        assert_eq!(DeviceToken::decode_exact(b"AT\x02ab").unwrap(), t);
        assert_eq!(
            DeviceToken::decode_exact(b"AX\x02ab").unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
        assert_eq!(
            DeviceToken::decode_exact(b"A").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        assert_eq!(
            DeviceToken::decode_exact(b"AT\x03ab").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        assert!(DeviceToken::new(PushProvider::ApnsTest, vec![0; 256]).is_none());
    }

    #[test]
    fn token_status_text() {
        for (s, v) in [
            (&b"NEW"[..], NtfTknStatus::New),
            (b"REGISTERED", NtfTknStatus::Registered),
            (b"INVALID", NtfTknStatus::Invalid(None)),
            (
                b"INVALID,BAD",
                NtfTknStatus::Invalid(Some(NtInvalidReason::BadToken)),
            ),
            (
                b"INVALID,TOPIC",
                NtfTknStatus::Invalid(Some(NtInvalidReason::TokenNotForTopic)),
            ),
            (
                b"INVALID,EXPIRED",
                NtfTknStatus::Invalid(Some(NtInvalidReason::ExpiredToken)),
            ),
            (
                b"INVALID,UNREGISTERED",
                NtfTknStatus::Invalid(Some(NtInvalidReason::Unregistered)),
            ),
            (b"CONFIRMED", NtfTknStatus::Confirmed),
            (b"ACTIVE", NtfTknStatus::Active),
            (b"EXPIRED", NtfTknStatus::Expired),
        ] {
            assert_eq!(NtfTknStatus::decode_exact(s).unwrap(), v);
            assert_eq!(v.to_bytes(), s);
            assert_eq!(alloc::format!("{v}").as_bytes(), s);
        }
        assert_eq!(
            NtfTknStatus::decode_exact(b"FOO").unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
        assert_eq!(
            NtfTknStatus::decode_exact(b"INVALID,").unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            NtfTknStatus::decode_exact(b"INVALID,FOO").unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            NtfTknStatus::decode_exact(b"ACTIVE,BAD").unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            NtfTknStatus::decode_exact(b"").unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
    }

    #[test]
    fn token_status_version_rule() {
        let s = NtfTknStatus::Invalid(Some(NtInvalidReason::TokenNotForTopic));
        assert_eq!(s.for_version(Version(1)), NtfTknStatus::Invalid(None));
        assert_eq!(s.for_version(Version(2)), NtfTknStatus::Invalid(None));
        assert_eq!(s.for_version(Version(3)), s);
        assert_eq!(
            NtfTknStatus::Active.for_version(Version(1)),
            NtfTknStatus::Active
        );
    }

    #[test]
    fn token_status_permissions() {
        use NtfTknStatus::*;
        let all = [New, Registered, Invalid(None), Confirmed, Active, Expired];
        let verify: alloc::vec::Vec<bool> =
            all.iter().map(|s| s.allow_token_verification()).collect();
        assert_eq!(verify, [false, true, false, true, true, false]);
        let sub: alloc::vec::Vec<bool> = all.iter().map(|s| s.allow_ntf_sub_commands()).collect();
        assert_eq!(sub, [false, false, true, false, true, true]);
    }

    #[test]
    fn reg_code_binary() {
        let c = NtfRegCode::new(b"code".to_vec()).unwrap();
        assert_eq!(c.to_bytes(), b"\x04code");
        assert_eq!(NtfRegCode::decode_exact(b"\x04code").unwrap(), c);
        assert!(NtfRegCode::new(vec![0; 256]).is_none());
    }

    pub(crate) fn provider() -> impl Strategy<Value = PushProvider> {
        prop::sample::select(PushProvider::ALL.to_vec())
    }

    pub(crate) fn device_token() -> impl Strategy<Value = DeviceToken> {
        (provider(), prop::collection::vec(any::<u8>(), 0..=255))
            .prop_map(|(p, t)| DeviceToken::new(p, t).unwrap())
    }

    pub(crate) fn token_status() -> impl Strategy<Value = NtfTknStatus> {
        prop_oneof![
            Just(NtfTknStatus::New),
            Just(NtfTknStatus::Registered),
            prop::option::of(prop::sample::select(NtInvalidReason::ALL.to_vec()))
                .prop_map(NtfTknStatus::Invalid),
            Just(NtfTknStatus::Confirmed),
            Just(NtfTknStatus::Active),
            Just(NtfTknStatus::Expired),
        ]
    }

    proptest! {
        #[test]
        fn device_token_binary_round_trip(t in device_token()) {
            prop_assert_eq!(DeviceToken::decode_exact(&t.to_bytes()).unwrap(), t);
        }

        #[test]
        fn device_token_text_round_trip(p in provider(), hex in "([0-9a-f]{2}){0,127}") {
            let t = DeviceToken::new(p, hex.as_bytes().to_vec()).unwrap();
            prop_assert_eq!(DeviceToken::from_text(&t.to_text()).unwrap(), t);
        }

        #[test]
        fn token_status_round_trip(s in token_status()) {
            prop_assert_eq!(NtfTknStatus::decode_exact(&s.to_bytes()).unwrap(), s);
        }

        #[test]
        fn reg_code_round_trip(c in prop::collection::vec(any::<u8>(), 0..=255)) {
            let c = NtfRegCode::new(c).unwrap();
            prop_assert_eq!(NtfRegCode::decode_exact(&c.to_bytes()).unwrap(), c);
        }

        #[test]
        fn device_token_text_never_panics(s in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = DeviceToken::from_text(&s);
        }
    }
    /// The conformance vectors of type `device_token.str`: (name, version, hex, canonical hex, value JSON or "" when invalid).
    #[cfg(feature = "serde")]
    const VECTORS: &[(&str, u16, &str, &str, &str)] = &[
        ("device_token/str/apns_dev/1/p", 0, "61706e735f6465762036366431336538366631356230343031376636333736613639353534326431343139376535643437303562636462636362383032626232656564336363633736", "", r#"{"provider": "AD", "token": "36366431336538366631356230343031376636333736613639353534326431343139376535643437303562636462636362383032626232656564336363633736"}"#),
        ("device_token/str/apns_prod/1/p", 0, "61706e735f70726f642033633263326539613234613962303937643662303834613137626663623537343438343964343535366238323638363730393363313862363861313130316465", "", r#"{"provider": "AP", "token": "33633263326539613234613962303937643662303834613137626663623537343438343964343535366238323638363730393363313862363861313130316465"}"#),
        ("device_token/str/apns_test/1/p", 0, "61706e735f746573742035623762363036386331393663613163353362636261303830323837393564313138643438396664383438663030396432383837376435616136623734323263", "", r#"{"provider": "AT", "token": "35623762363036386331393663613163353362636261303830323837393564313138643438396664383438663030396432383837376435616136623734323263"}"#),
        ("device_token/str/apns_null_test_token/p", 0, "61706e735f6e756c6c20746573745f6e74665f746f6b656e", "", r#"{"provider": "AN", "token": "746573745f6e74665f746f6b656e"}"#),
        ("device_token/str/empty_token/p", 0, "61706e735f70726f6420", "", r#"{"provider": "AP", "token": ""}"#),
        ("device_token/str/invalid/odd_hex/p", 0, "61706e735f70726f6420343930656132393464643363333462353033316363626662653061383465653739313562333231306564366339323066656361326264393239663834303565", "", r#""#),
        ("device_token/str/invalid/provider_only/p", 0, "61706e735f70726f64", "", r#""#),
    ];

    #[cfg(feature = "serde")]
    #[test]
    fn json_vectors() {
        crate::test_vectors::check_json_vectors(
            VECTORS,
            smp_proto::version::Version(0),
            |b, _| DeviceToken::from_text(b),
            |x, _| x.to_text(),
        );
    }
}
