//! Web Push device tokens (RFC 8030 push resources with RFC 8291 keys), as on the reference's
//! unreleased `dev-wp` branch (commit `ea9adf1ac`, `Notifications/Protocol.hs`: `WPProvider`,
//! `WPSrvLoc`, `WPTokenParams`, `WPKey`, `WPAuth`, `WPP256dh`).
//!
//! ```text
//! ; binary
//! wp-provider   = "WP" short-bytes short-bytes        ; host, port ("" when absent): SrvLoc
//! wp-params     = short-bytes wp-key                  ; the endpoint's path
//! wp-key        = %x10 16OCTET p256dh                 ; auth: exactly 16 bytes
//! p256dh        = %x41 %x04 64OCTET / %x01 %x00       ; uncompressed point, or the point at infinity
//! ; text
//! wp-provider-text = "webpush https://" wp-host [":" 1*DIGIT]
//! wp-host          = 1*(any byte but ":" "#" "," ";" "/" SP)
//! wp-params-text   = wp-path SP base64url SP base64url ; path, auth, p256dh
//! wp-path          = *(any byte but SP)
//! wp-token-text    = wp-provider-text wp-params-text  ; no space between host and path
//! ```
//!
//! The branch does not gate these forms behind an NTF version: they are sent and accepted at
//! every version. A server without Web Push (simplexmq 6.5.5.0) reads the provider's first two
//! bytes `WP` as an unknown APNS provider and answers `ERR CMD SYNTAX`.
//!
//! The binary decoder accepts what the branch's `smpP` accepts: any host and port bytes, any
//! path, and a p256dh key that is only checked for its form (not for being on the curve). The
//! push endpoint is checked by [`WebPushToken::check_endpoint`]: the text decoder applies it (the
//! branch parses the URL with `parseUrlThrow` in `strP`), and a server applies it at `TNEW`.

use alloc::vec::Vec;

use smp_proto::coding::{put_short, Decode, Encode, Reader};
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};
use smp_proto::text::put_base64url;

/// The push service of a Web Push token: its host and port (the branch's `WPP (WPSrvLoc
/// (SrvLoc host port))`), always reached over `https`.
///
/// ```text
/// binary: "WP" short-bytes(host) short-bytes(port)
/// text:   "webpush https://" host [":" port]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WebPushProvider {
    host: Vec<u8>,
    port: Vec<u8>,
}

impl WebPushProvider {
    /// The 2-byte binary code that starts the provider.
    pub const CODE: &'static [u8; 2] = b"WP";

    /// The text prefix before the host.
    pub const TEXT_PREFIX: &'static [u8] = b"webpush https://";

    /// A provider; `None` when the host or the port is longer than 255 bytes (the binary form
    /// has 1-byte lengths). `port` is empty for the scheme's default (443).
    pub fn new(host: impl Into<Vec<u8>>, port: impl Into<Vec<u8>>) -> Option<Self> {
        let (host, port) = (host.into(), port.into());
        (host.len() <= 255 && port.len() <= 255).then_some(Self { host, port })
    }

    /// The host bytes.
    pub fn host(&self) -> &[u8] {
        &self.host
    }

    /// The port bytes (empty: the default port).
    pub fn port(&self) -> &[u8] {
        &self.port
    }

    /// The VAPID audience (RFC 8292 `aud`) as the branch computes it (`wpAud`, then
    /// `"https://" <> aud` in `mkVapidHeader`): `https://` and the host, without the port.
    pub fn audience(&self) -> Vec<u8> {
        let mut v = b"https://".to_vec();
        v.extend_from_slice(&self.host);
        v
    }

    /// The origin of the push service: `https://host[:port]` (the branch's `strEncode WPSrvLoc`).
    pub fn origin(&self) -> Vec<u8> {
        let mut v = b"https://".to_vec();
        v.extend_from_slice(&self.host);
        if !self.port.is_empty() {
            v.push(b':');
            v.extend_from_slice(&self.port);
        }
        v
    }

    /// Appends the text form: `webpush https://host[:port]`.
    pub fn encode_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"webpush ");
        out.extend_from_slice(&self.origin());
    }

    /// Parses the text form (the branch's `strP` of `WPProvider` and `SrvLoc`): after the
    /// prefix, a host of one or more bytes other than `:#,;/` and space, then an optional
    /// `:` and decimal port. A `:` not followed by a digit is left unread (it then starts the
    /// path). The port is kept as the decimal text of its value (leading zeros dropped, as
    /// the reference's `show`); a port over 20 digits is refused.
    ///
    /// # Errors
    /// `BadValue` when the prefix is missing, `Truncated`/`BadValue` for an empty host,
    /// `BadLength` for a host longer than 255 bytes.
    pub fn parse_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let at = r.offset();
        if !r.eat_slice(Self::TEXT_PREFIX) {
            return Err(DecodeError::new(
                DecodeErrorKind::BadValue,
                at,
                "\"webpush https://\"",
            ));
        }
        let at = r.offset();
        let host = r.take_while1(|b| !b":#,;/ ".contains(&b), "web push host")?;
        if host.len() > 255 {
            return Err(DecodeError::new(
                DecodeErrorKind::BadLength,
                at,
                "web push host of at most 255 bytes",
            ));
        }
        let cp = r.checkpoint();
        let mut port = Vec::new();
        if r.eat(b':') {
            let digits = r.take_while(|b| b.is_ascii_digit());
            if digits.is_empty() {
                r.restore(cp);
            } else {
                let at = r.offset();
                let value = digits
                    .iter()
                    .try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
                    .ok_or(DecodeError::new(DecodeErrorKind::BadValue, at, "web push port"))?;
                use core::fmt::Write as _;
                let mut s = alloc::string::String::new();
                let _ = write!(s, "{value}");
                port = s.into_bytes();
            }
        }
        Ok(Self {
            host: host.into(),
            port,
        })
    }
}

impl Encode for WebPushProvider {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(Self::CODE);
        put_short(out, &self.host);
        put_short(out, &self.port);
    }
}

impl<'a> Decode<'a> for WebPushProvider {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        if r.take(2, "push provider")? != Self::CODE {
            return Err(DecodeError::new(
                DecodeErrorKind::BadValue,
                at,
                "push provider code",
            ));
        }
        let host = r.short_bytes("web push host")?.into();
        let port = r.short_bytes("web push port")?.into();
        Ok(Self { host, port })
    }
}

/// The subscriber's P-256 public key (`p256dh`, RFC 8291 `ua_public`) as the branch encodes it
/// (`uncompressEncodePoint`): 65 bytes `04 || x || y`, or one zero byte for the point at
/// infinity, which the branch's decoder also accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum P256dhKey {
    /// The point at infinity (`"\0"`); never a usable key.
    Infinity,
    /// An uncompressed point `04 || x || y` (not checked to be on the curve here).
    Uncompressed([u8; 65]),
}

impl P256dhKey {
    /// The key for its encoded bytes (the branch's `uncompressDecodePoint`).
    ///
    /// # Errors
    /// `BadKey` unless the bytes are `[0]` or 65 bytes starting with `0x04`.
    pub fn from_bytes(b: &[u8]) -> DecodeResult<Self> {
        match b {
            [0] => Ok(Self::Infinity),
            [4, ..] if b.len() == 65 => {
                let mut k = [0u8; 65];
                k.copy_from_slice(b);
                Ok(Self::Uncompressed(k))
            }
            _ => Err(DecodeError::new(
                DecodeErrorKind::BadKey,
                0,
                "uncompressed P-256 point",
            )),
        }
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Infinity => &[0],
            Self::Uncompressed(k) => k,
        }
    }
}

/// The subscriber's keys (the branch's `WPKey`): the RFC 8291 authentication secret and the
/// `p256dh` public key.
///
/// ```text
/// binary: %x10 16OCTET p256dh
/// text:   base64url(auth) SP base64url(p256dh)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WebPushKey {
    /// The 16-byte authentication secret (`auth`).
    pub auth: [u8; 16],
    /// The subscriber's public key (`p256dh`).
    pub p256dh: P256dhKey,
}

impl WebPushKey {
    fn auth_from(b: &[u8], at: usize) -> DecodeResult<[u8; 16]> {
        b.try_into().map_err(|_| {
            DecodeError::new(DecodeErrorKind::BadLength, at, "16-byte web push auth")
        })
    }

    fn p256dh_from(b: &[u8], at: usize) -> DecodeResult<P256dhKey> {
        P256dhKey::from_bytes(b).map_err(|e| DecodeError { offset: at, ..e })
    }

    /// Appends the text form: both fields in padded base64url, separated by a space.
    pub fn encode_text(&self, out: &mut Vec<u8>) {
        put_base64url(out, &self.auth);
        out.push(b' ');
        put_base64url(out, self.p256dh.as_bytes());
    }

    /// Parses the text form (padding optional, as the reference's `base64urlP`).
    ///
    /// # Errors
    /// `BadBase64`, `BadLength` for an auth that is not 16 bytes, `BadKey` for a p256dh of
    /// the wrong form, `Truncated` when the space is missing.
    pub fn parse_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let at = r.offset();
        let auth = Self::auth_from(&r.base64url("web push auth")?, at)?;
        r.space()?;
        let at = r.offset();
        let p256dh = Self::p256dh_from(&r.base64url("web push p256dh")?, at)?;
        Ok(Self { auth, p256dh })
    }
}

impl Encode for WebPushKey {
    fn encode(&self, out: &mut Vec<u8>) {
        put_short(out, &self.auth);
        put_short(out, self.p256dh.as_bytes());
    }
}

impl<'a> Decode<'a> for WebPushKey {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let auth = Self::auth_from(r.short_bytes("web push auth")?, at)?;
        let at = r.offset();
        let p256dh = Self::p256dh_from(r.short_bytes("web push p256dh")?, at)?;
        Ok(Self { auth, p256dh })
    }
}

/// Why a Web Push endpoint is refused ([`WebPushToken::check_endpoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointError {
    /// The host is not a DNS name or IPv4 address (ASCII letters, digits, `-`, `.`, `_`).
    Host,
    /// The port is not a decimal number from 1 to 65535.
    Port,
    /// The path is neither empty nor starts with `/`, or has a byte outside RFC 3986's path
    /// and query characters (a space, a control byte, non-ASCII, `#`, `"<>\^`{|}`).
    Path,
}

impl EndpointError {
    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Host => "web push host is not a DNS name or IPv4 address",
            Self::Port => "web push port is not a number from 1 to 65535",
            Self::Path => "web push path is not an absolute URL path",
        }
    }
}

impl core::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Web Push device token (the branch's `WPDeviceToken WPProvider WPTokenParams`): the push
/// service, the path of the push resource on it, and the subscriber's keys.
///
/// ```text
/// binary: wp-provider short-bytes(path) wp-key
/// text:   wp-provider-text path SP base64url(auth) SP base64url(p256dh)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WebPushToken {
    provider: WebPushProvider,
    path: Vec<u8>,
    key: WebPushKey,
}

impl WebPushToken {
    /// A token; `None` when the path is longer than 255 bytes.
    pub fn new(provider: WebPushProvider, path: impl Into<Vec<u8>>, key: WebPushKey) -> Option<Self> {
        let path = path.into();
        (path.len() <= 255).then_some(Self {
            provider,
            path,
            key,
        })
    }

    /// The push service.
    pub fn provider(&self) -> &WebPushProvider {
        &self.provider
    }

    /// The path of the push resource (with any query), e.g. `/wpush/v2/gAAA...`.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// The subscriber's keys.
    pub fn key(&self) -> &WebPushKey {
        &self.key
    }

    /// The push resource's URL: `https://host[:port]` and the path (the branch's `wpRequest`).
    pub fn endpoint(&self) -> Vec<u8> {
        let mut v = self.provider.origin();
        v.extend_from_slice(&self.path);
        v
    }

    /// Checks that the endpoint is an `https` URL a push can be sent to: a DNS name or IPv4
    /// host, a port from 1 to 65535 when present, an empty path or one starting with `/`
    /// made of RFC 3986 path and query characters. The branch parses the URL with
    /// `parseUrlThrow` when it reads the text form; this check is that rule made exact (it
    /// refuses a few spellings `parseUrlThrow` accepts, such as a query right after the host).
    ///
    /// # Errors
    /// The first part that fails.
    pub fn check_endpoint(&self) -> Result<(), EndpointError> {
        let host = &self.provider.host;
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !host.starts_with(b".")
            && !host.starts_with(b"-");
        if !host_ok {
            return Err(EndpointError::Host);
        }
        let port = &self.provider.port;
        if !port.is_empty() {
            let ok = port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && matches!(
                    port.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')),
                    1..=65535
                );
            if !ok {
                return Err(EndpointError::Port);
            }
        }
        let path_ok = (self.path.is_empty() || self.path[0] == b'/')
            && self
                .path
                .iter()
                .all(|&b| b.is_ascii_graphic() && !b"#\"<>\\^`{|}".contains(&b));
        if !path_ok {
            return Err(EndpointError::Path);
        }
        Ok(())
    }

    /// Appends the text form. As in the branch, there is no space between the provider and the
    /// path.
    pub fn encode_text(&self, out: &mut Vec<u8>) {
        self.provider.encode_text(out);
        out.extend_from_slice(&self.path);
        out.push(b' ');
        self.key.encode_text(out);
    }

    /// Parses the text form and checks the endpoint ([`WebPushToken::check_endpoint`]), as the
    /// branch's `strP` of `DeviceToken` does with `wpRequest`.
    ///
    /// # Errors
    /// As [`WebPushProvider::parse_text`] and [`WebPushKey::parse_text`]; `BadLength` for a
    /// path over 255 bytes; `BadValue` (at the provider) when the endpoint is refused.
    pub fn parse_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.offset();
        let provider = WebPushProvider::parse_text(r)?;
        let at = r.offset();
        let path = r.take_till(|b| b == b' ');
        if path.len() > 255 {
            return Err(DecodeError::new(
                DecodeErrorKind::BadLength,
                at,
                "web push path of at most 255 bytes",
            ));
        }
        let path = path.into();
        r.space()?;
        let key = WebPushKey::parse_text(r)?;
        let t = Self {
            provider,
            path,
            key,
        };
        t.check_endpoint()
            .map_err(|e| DecodeError::new(DecodeErrorKind::BadValue, start, e.as_str()))?;
        Ok(t)
    }

    /// The path and keys in text form, as the branch stores them in the token column
    /// (`strEncode WPTokenParams`): `path SP base64url(auth) SP base64url(p256dh)`.
    pub fn params_text(&self) -> Vec<u8> {
        let mut v = self.path.clone();
        v.push(b' ');
        self.key.encode_text(&mut v);
        v
    }

    /// Decodes the binary form after the provider (path, then keys).
    ///
    /// # Errors
    /// As [`Decode::decode`] of the fields.
    pub fn decode_params(provider: WebPushProvider, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let path = r.short_bytes("web push path")?.into();
        let key = WebPushKey::decode(r)?;
        Ok(Self {
            provider,
            path,
            key,
        })
    }
}

impl Encode for WebPushToken {
    fn encode(&self, out: &mut Vec<u8>) {
        self.provider.encode(out);
        put_short(out, &self.path);
        self.key.encode(out);
    }
}

impl<'a> Decode<'a> for WebPushToken {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let provider = WebPushProvider::decode(r)?;
        Self::decode_params(provider, r)
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

    impl<'a> Arbitrary<'a> for WebPushProvider {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(Self {
                host: short(u)?,
                port: short(u)?,
            })
        }
    }

    impl<'a> Arbitrary<'a> for P256dhKey {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            if u.arbitrary::<bool>()? {
                return Ok(Self::Infinity);
            }
            let mut k = [0u8; 65];
            u.fill_buffer(&mut k[1..])?;
            k[0] = 4;
            Ok(Self::Uncompressed(k))
        }
    }

    impl<'a> Arbitrary<'a> for WebPushToken {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(Self {
                provider: WebPushProvider::arbitrary(u)?,
                path: short(u)?,
                key: WebPushKey {
                    auth: u.arbitrary()?,
                    p256dh: P256dhKey::arbitrary(u)?,
                },
            })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The token of the branch's `testWPDeviceTokenStrEncoding` (`tests/NtfWPTests.hs`).
    pub(crate) const BRANCH_TOKEN_TEXT: &[u8] = b"webpush https://localhost/secret AQ3VfRX3_F38J3ltcmMVRg BKuw4WxupnnrZHqk6vCwoms4tOpitZMvFdR9eAn54yOPY4q9jpXOpl-Ui_FwbIy8ZbFCnuaS7RnO02ahuL4XxIM";

    fn from_text(s: &[u8]) -> DecodeResult<WebPushToken> {
        let mut r = Reader::new(s);
        let t = WebPushToken::parse_text(&mut r)?;
        r.finish()?;
        Ok(t)
    }

    #[test]
    fn branch_token_text() {
        let t = from_text(BRANCH_TOKEN_TEXT).unwrap();
        assert_eq!(t.provider().host(), b"localhost");
        assert_eq!(t.provider().port(), b"");
        assert_eq!(t.path(), b"/secret");
        assert_eq!(t.endpoint(), b"https://localhost/secret");
        assert_eq!(t.provider().audience(), b"https://localhost");
        assert_eq!(
            t.key().auth,
            [1, 13, 213, 125, 21, 247, 252, 93, 252, 39, 121, 109, 114, 99, 21, 70]
        );
        assert_eq!(t.key().p256dh.as_bytes()[0], 4);
        // the text form is padded base64url (the branch's TODO notes it is not unpadded)
        let mut text = Vec::new();
        t.encode_text(&mut text);
        assert_eq!(
            text,
            &b"webpush https://localhost/secret AQ3VfRX3_F38J3ltcmMVRg== BKuw4WxupnnrZHqk6vCwoms4tOpitZMvFdR9eAn54yOPY4q9jpXOpl-Ui_FwbIy8ZbFCnuaS7RnO02ahuL4XxIM="[..]
        );
        assert_eq!(from_text(&text).unwrap(), t);
        // binary: "WP", host, empty port, path, auth, p256dh
        let b = t.to_bytes();
        assert_eq!(&b[..13], b"WP\x09localhost\x00");
        assert_eq!(&b[13..21], b"\x07/secret");
        assert_eq!(b[21], 16);
        assert_eq!(b[38], 65);
        assert_eq!(b.len(), 39 + 65);
        assert_eq!(WebPushToken::decode_exact(&b).unwrap(), t);
    }

    #[test]
    fn branch_invalid_token_text() {
        // testInvalidWPDeviceTokenStrEncoding: "https://localhost:/" is refused
        let s = b"webpush https://localhost:/ AQ3VfRX3_F38J3ltcmMVRg BKuw4WxupnnrZHqk6vCwoms4tOpitZMvFdR9eAn54yOPY4q9jpXOpl-Ui_FwbIy8ZbFCnuaS7RnO02ahuL4XxIM";
        assert_eq!(from_text(s).unwrap_err().kind, DecodeErrorKind::BadValue);
    }

    #[test]
    fn port_text() {
        let mut r = Reader::new(b"webpush https://push.example:0443/x");
        let p = WebPushProvider::parse_text(&mut r).unwrap();
        assert_eq!(p.port(), b"443");
        assert_eq!(r.rest(), b"/x");
        assert_eq!(p.origin(), b"https://push.example:443");
        assert_eq!(p.audience(), b"https://push.example");
        let mut r = Reader::new(b"webpush https://h:99999999999999999999999/x");
        assert_eq!(
            WebPushProvider::parse_text(&mut r).unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
        let mut r = Reader::new(b"webpush http://h/x");
        assert_eq!(
            WebPushProvider::parse_text(&mut r).unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
    }

    #[test]
    fn key_forms() {
        assert_eq!(P256dhKey::from_bytes(&[0]).unwrap(), P256dhKey::Infinity);
        assert_eq!(
            P256dhKey::from_bytes(&[4; 64]).unwrap_err().kind,
            DecodeErrorKind::BadKey
        );
        let mut k = [7u8; 65];
        assert_eq!(
            P256dhKey::from_bytes(&k).unwrap_err().kind,
            DecodeErrorKind::BadKey
        );
        k[0] = 4;
        assert!(P256dhKey::from_bytes(&k).is_ok());
        // auth must be exactly 16 bytes
        let mut b = alloc::vec![15u8];
        b.extend_from_slice(&[1; 15]);
        b.extend_from_slice(&[1, 0]);
        assert_eq!(
            WebPushKey::decode_exact(&b).unwrap_err().kind,
            DecodeErrorKind::BadLength
        );
    }

    #[test]
    fn endpoint_rules() {
        let key = WebPushKey {
            auth: [1; 16],
            p256dh: P256dhKey::Infinity,
        };
        let t = |h: &[u8], p: &[u8], path: &[u8]| {
            WebPushToken::new(WebPushProvider::new(h, p).unwrap(), path, key)
                .unwrap()
                .check_endpoint()
        };
        assert_eq!(t(b"fcm.googleapis.com", b"", b"/wp/abc?x=1"), Ok(()));
        assert_eq!(t(b"127.0.0.1", b"8443", b""), Ok(()));
        assert_eq!(t(b"h", b"0", b"/"), Err(EndpointError::Port));
        assert_eq!(t(b"h", b"65536", b"/"), Err(EndpointError::Port));
        assert_eq!(t(b"h", b"4x", b"/"), Err(EndpointError::Port));
        assert_eq!(t(b"", b"", b"/"), Err(EndpointError::Host));
        assert_eq!(t(b"h?x", b"", b"/"), Err(EndpointError::Host));
        assert_eq!(t(b"h", b"", b"x"), Err(EndpointError::Path));
        assert_eq!(t(b"h", b"", b"/a#b"), Err(EndpointError::Path));
        assert_eq!(t(b"h", b"", b"/a\xffb"), Err(EndpointError::Path));
    }

    pub(crate) fn web_push_token() -> impl Strategy<Value = WebPushToken> {
        (
            prop::collection::vec(any::<u8>(), 0..=255),
            prop::collection::vec(any::<u8>(), 0..=255),
            prop::collection::vec(any::<u8>(), 0..=255),
            any::<[u8; 16]>(),
            prop::option::of(prop::collection::vec(any::<u8>(), 64)),
        )
            .prop_map(|(h, p, path, auth, k)| {
                let p256dh = match k {
                    None => P256dhKey::Infinity,
                    Some(k) => {
                        let mut b = [4u8; 65];
                        b[1..].copy_from_slice(&k);
                        P256dhKey::Uncompressed(b)
                    }
                };
                WebPushToken::new(
                    WebPushProvider::new(h, p).unwrap(),
                    path,
                    WebPushKey { auth, p256dh },
                )
                .unwrap()
            })
    }

    proptest! {
        #[test]
        fn binary_round_trip(t in web_push_token()) {
            prop_assert_eq!(WebPushToken::decode_exact(&t.to_bytes()).unwrap(), t);
        }

        #[test]
        fn text_round_trip(host in "[a-z0-9][a-z0-9.-]{0,40}", port in prop::option::of(1u16..), path in "(/[A-Za-z0-9_~%?=&.-]{0,30}){0,4}", auth in any::<[u8; 16]>()) {
            let port = port.map(|p| alloc::format!("{p}")).unwrap_or_default();
            let key = WebPushKey { auth, p256dh: P256dhKey::Infinity };
            let t = WebPushToken::new(WebPushProvider::new(host.as_bytes(), port.as_bytes()).unwrap(), path.as_bytes(), key).unwrap();
            let mut text = Vec::new();
            t.encode_text(&mut text);
            prop_assert_eq!(from_text(&text).unwrap(), t);
        }

        #[test]
        fn text_never_panics(s in prop::collection::vec(any::<u8>(), 0..120)) {
            let mut r = Reader::new(&s);
            let _ = WebPushToken::parse_text(&mut r);
        }
    }
}
