//! Protocol error types carried by `ERR` (the reference's `ErrorType` and the types nested in
//! it), in their binary `Encoding` form, shared by SMP and NTF.
//!
//! ```text
//! error-type    = "BLOCK" / "SESSION" / "CMD" SP command-error / "PROXY" SP proxy-error / "AUTH"
//!               / "BLOCKED" SP blocking-info / "SERVICE" / "CRYPTO" / "QUOTA"
//!               / "STORE" SP *OCTET              ; the rest of the input, UTF-8 ('?' for bad bytes)
//!               / "NO_MSG" / "LARGE_MSG" / "EXPIRED" / "INTERNAL" / "DUPLICATE_"
//! command-error = "UNKNOWN" / "SYNTAX" / "PROHIBITED" / "NO_AUTH" / "HAS_AUTH" / "NO_ENTITY"
//!               / "NO_QUEUE"                      ; input only, read as NO_ENTITY
//! proxy-error   = "PROTOCOL" SP error-type / "BROKER" SP broker-error / "BASIC_AUTH" / "NO_SESSION"
//! broker-error  = "RESPONSE" SP short-bytes / "UNEXPECTED" SP short-bytes
//!               / "TRANSPORT" SP transport-error
//!               / "NETWORK" [SP network-error]   ; the detail is read but never written
//!               / "TIMEOUT" / "HOST" / "NO_SERVICE"
//! transport-error = "BLOCK" / "VERSION" / "LARGE_MSG" / "SESSION" / "NO_AUTH"
//!               / "HANDSHAKE" SP handshake-error  ; Haskell `read` of one word
//! handshake-error = "PARSE" / "IDENTITY" / "BAD_AUTH" / "BAD_SERVICE"
//! network-error = "CONNECT" SP short-bytes / "TLS" SP short-bytes / "UNKNOWNCA" / "FAILED"
//!               / "TIMEOUT" / "SUBSCRIBE" SP short-bytes
//! blocking-info = "reason=" ("spam" / "content") [",notice=" client-notice-json]
//! ```
//!
//! Keywords end at the next space; `short-bytes` strings are Latin-1 (one char per byte).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::coding::{put_short, Decode, Encode, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::server::{is_latin1, latin1_to_string, string_to_latin1};
use crate::version::{smp, Version};

/// Nesting limit for `PROXY PROTOCOL ...` (the reference has none; this bounds recursion).
pub const MAX_ERROR_NESTING: usize = 64;

/// A protocol error, as sent in `ERR`.
///
/// ```text
/// error-type = keyword [SP fields]   ; see the module docs
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Bad block format, encoding or signature size.
    Block,
    /// Bad session id.
    Session,
    /// Unknown command, bad syntax or credentials.
    Cmd(CommandError),
    /// Error from a proxied relay.
    Proxy(Box<ProxyError>),
    /// Authorization failed or no such entity.
    Auth,
    /// The entity is blocked.
    Blocked(BlockingInfo),
    /// Service signature not allowed.
    Service,
    /// Encryption error in the proxy protocol.
    Crypto,
    /// Queue capacity exceeded.
    Quota,
    /// Server storage error with its text.
    Store(String),
    /// No message to acknowledge.
    NoMsg,
    /// Message too large.
    LargeMsg,
    /// Relay key expired.
    Expired,
    /// Internal server error.
    Internal,
    /// Used internally by the reference (`DUPLICATE_`).
    Duplicate,
}

/// The `CMD` error detail.
///
/// ```text
/// command-error = "UNKNOWN" / "SYNTAX" / "PROHIBITED" / "NO_AUTH" / "HAS_AUTH" / "NO_ENTITY"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CommandError {
    /// Unknown command.
    Unknown,
    /// Command syntax error.
    Syntax,
    /// Command not allowed.
    Prohibited,
    /// Required credentials (authorization or entity id) missing.
    NoAuth,
    /// Credentials present that the command does not allow.
    HasAuth,
    /// Required entity id missing (legacy input `NO_QUEUE`).
    NoEntity,
}

impl CommandError {
    /// The wire keyword.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Syntax => "SYNTAX",
            Self::Prohibited => "PROHIBITED",
            Self::NoAuth => "NO_AUTH",
            Self::HasAuth => "HAS_AUTH",
            Self::NoEntity => "NO_ENTITY",
        }
    }

    /// Parses a keyword (including the legacy `NO_QUEUE`).
    pub fn from_keyword(k: &[u8]) -> Option<Self> {
        Some(match k {
            b"UNKNOWN" => Self::Unknown,
            b"SYNTAX" => Self::Syntax,
            b"PROHIBITED" => Self::Prohibited,
            b"NO_AUTH" => Self::NoAuth,
            b"HAS_AUTH" => Self::HasAuth,
            b"NO_ENTITY" | b"NO_QUEUE" => Self::NoEntity,
            _ => return None,
        })
    }
}

/// The `PROXY` error detail.
///
/// ```text
/// proxy-error = "PROTOCOL" SP error-type / "BROKER" SP broker-error / "BASIC_AUTH" / "NO_SESSION"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProxyError {
    /// The destination relay answered `ERR`.
    Protocol(ErrorType),
    /// Error reaching the destination relay.
    Broker(BrokerErrorType),
    /// Bad basic auth given to the proxy.
    BasicAuth,
    /// No session with the destination.
    NoSession,
}

/// A client-side error reaching a server.
///
/// ```text
/// broker-error = "RESPONSE" SP short-bytes / "UNEXPECTED" SP short-bytes / "TRANSPORT" SP transport-error
///              / "NETWORK" [SP network-error] / "TIMEOUT" / "HOST" / "NO_SERVICE"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BrokerErrorType {
    /// Unparsable response (Latin-1 text, at most 255 chars).
    Response(String),
    /// Unexpected response (Latin-1 text, at most 255 chars).
    Unexpected(String),
    /// Network error; the detail is decoded (`Failed` when absent) but always encoded as bare `NETWORK`.
    Network(NetworkError),
    /// Transport error.
    Transport(TransportError),
    /// Response timeout.
    Timeout,
    /// No compatible host.
    Host,
    /// Service unavailable.
    NoService,
}

/// The detail after `NETWORK` (input only).
///
/// ```text
/// network-error = "CONNECT" SP short-bytes / "TLS" SP short-bytes / "UNKNOWNCA" / "FAILED"
///               / "TIMEOUT" / "SUBSCRIBE" SP short-bytes
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetworkError {
    /// Connection error (Latin-1 text).
    Connect(String),
    /// TLS error (Latin-1 text).
    Tls(String),
    /// Unknown CA.
    UnknownCa,
    /// Generic failure; also what a bare `NETWORK` decodes to.
    Failed,
    /// Timeout.
    Timeout,
    /// Subscription error (Latin-1 text).
    Subscribe(String),
}

/// A transport error.
///
/// ```text
/// transport-error = "BLOCK" / "VERSION" / "LARGE_MSG" / "SESSION" / "NO_AUTH" / "HANDSHAKE" SP handshake-error
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TransportError {
    /// Bad block.
    Block,
    /// Incompatible version.
    Version,
    /// Message too large for a block.
    LargeMsg,
    /// Bad session id.
    Session,
    /// No server key for authorization.
    NoAuth,
    /// Handshake error.
    Handshake(HandshakeError),
}

/// A transport handshake error.
///
/// ```text
/// handshake-error = "PARSE" / "IDENTITY" / "BAD_AUTH" / "BAD_SERVICE"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum HandshakeError {
    /// Parse error.
    Parse,
    /// Bad server identity.
    Identity,
    /// Authentication failed.
    BadAuth,
    /// Service record error.
    BadService,
}

impl HandshakeError {
    /// The wire keyword.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Parse => "PARSE",
            Self::Identity => "IDENTITY",
            Self::BadAuth => "BAD_AUTH",
            Self::BadService => "BAD_SERVICE",
        }
    }

    fn from_keyword(k: &[u8]) -> Option<Self> {
        Some(match k {
            b"PARSE" => Self::Parse,
            b"IDENTITY" => Self::Identity,
            b"BAD_AUTH" => Self::BadAuth,
            b"BAD_SERVICE" => Self::BadService,
            _ => return None,
        })
    }

    /// Haskell's derived `read` of one word: optional whitespace and balanced parentheses
    /// around the constructor name.
    fn read_word(w: &[u8]) -> Option<Self> {
        fn is_space(c: &u8) -> bool {
            matches!(c, b' ' | b'\t'..=b'\r' | 0xa0)
        }
        fn trim(mut s: &[u8]) -> &[u8] {
            while s.first().is_some_and(is_space) {
                s = &s[1..];
            }
            while s.last().is_some_and(is_space) {
                s = &s[..s.len() - 1];
            }
            s
        }
        let mut s = trim(w);
        while s.len() >= 2 && s[0] == b'(' && s[s.len() - 1] == b')' {
            s = trim(&s[1..s.len() - 1]);
        }
        Self::from_keyword(s)
    }
}

/// Why an entity is blocked, with an optional notice for clients.
///
/// ```text
/// blocking-info = "reason=" ("spam" / "content") [",notice=" client-notice-json]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BlockingInfo {
    /// The reason.
    pub reason: BlockingReason,
    /// The notice, if any.
    pub notice: Option<ClientNotice>,
}

/// The reason for blocking.
///
/// ```text
/// blocking-reason = "spam" / "content"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum BlockingReason {
    /// Spam.
    Spam,
    /// Content.
    Content,
}

/// A notice for clients of a blocked entity: how long it applies.
///
/// ```text
/// client-notice-json = JSON object; its "ttl" member (first occurrence) is null or an integral
///                      number in the int64 range, other members are ignored
/// canonical          = "{}" / "{\"ttl\":" int64 "}"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ClientNotice {
    /// Seconds the notice applies; `None` for indefinitely.
    pub ttl: Option<i64>,
}

impl ClientNotice {
    /// Appends the canonical JSON (`{}` or `{"ttl":N}`), as the reference writes it.
    pub fn put_json(&self, out: &mut Vec<u8>) {
        match self.ttl {
            None => out.extend_from_slice(b"{}"),
            Some(t) => {
                out.extend_from_slice(b"{\"ttl\":");
                crate::text::put_decimal(out, t);
                out.push(b'}');
            }
        }
    }

    /// Parses the JSON text of a notice as the reference accepts it (the whole input).
    pub fn parse_json(s: &[u8]) -> Option<Self> {
        json::parse_notice(s)
    }
}

impl BlockingInfo {
    /// Appends the text form.
    pub fn put_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"reason=");
        out.extend_from_slice(match self.reason {
            BlockingReason::Spam => b"spam",
            BlockingReason::Content => b"content",
        });
        if let Some(n) = &self.notice {
            out.extend_from_slice(b",notice=");
            n.put_json(out);
        }
    }

    /// Parses the text form from the front of `r` (the notice, when present, takes the rest).
    ///
    /// # Errors
    /// `BadValue` when `reason=` or the reason is missing or bad.
    pub fn read_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        if !r.eat_slice(b"reason=") {
            return Err(r.error(DecodeErrorKind::BadValue, "reason="));
        }
        let reason = if r.eat_slice(b"spam") {
            BlockingReason::Spam
        } else if r.eat_slice(b"content") {
            BlockingReason::Content
        } else {
            return Err(r.error(DecodeErrorKind::BadValue, "spam or content"));
        };
        let cp = r.checkpoint();
        let mut notice = None;
        if r.eat_slice(b",notice=") {
            match ClientNotice::parse_json(r.peek_rest()) {
                Some(n) => {
                    r.rest();
                    notice = Some(n);
                }
                None => r.restore(cp),
            }
        }
        Ok(Self { reason, notice })
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut v = Vec::new();
        self.put_text(&mut v);
        latin1_to_string(&v)
    }
}

/// Takes a keyword: bytes up to the next space (possibly none).
fn keyword<'a>(r: &mut Reader<'a>) -> &'a [u8] {
    r.take_till(|c| c == b' ')
}

fn unknown(at: usize, expected: &'static str) -> DecodeError {
    DecodeError::new(DecodeErrorKind::UnknownTag, at, expected)
}

/// The reference's `safeDecodeUtf8`: UTF-8 with `?` for each byte of an invalid sequence.
pub fn safe_decode_utf8(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        for _ in chunk.invalid() {
            s.push('?');
        }
    }
    s
}

fn read_latin1_short(r: &mut Reader<'_>, expected: &'static str) -> DecodeResult<String> {
    r.space()?;
    Ok(latin1_to_string(r.short_bytes(expected)?))
}

fn put_latin1_short(out: &mut Vec<u8>, s: &str) {
    let mut b = Vec::with_capacity(s.len());
    string_to_latin1(s, &mut b);
    put_short(out, &b);
}

impl ErrorType {
    fn read(r: &mut Reader<'_>, depth: usize) -> DecodeResult<Self> {
        let at = r.offset();
        Ok(match keyword(r) {
            b"BLOCK" => Self::Block,
            b"SESSION" => Self::Session,
            b"CMD" => {
                r.space()?;
                let at = r.offset();
                Self::Cmd(
                    CommandError::from_keyword(keyword(r)).ok_or(unknown(at, "command error"))?,
                )
            }
            b"PROXY" => {
                r.space()?;
                Self::Proxy(Box::new(ProxyError::read(r, depth)?))
            }
            b"AUTH" => Self::Auth,
            b"BLOCKED" => {
                r.space()?;
                Self::Blocked(BlockingInfo::read_text(r)?)
            }
            b"SERVICE" => Self::Service,
            b"CRYPTO" => Self::Crypto,
            b"QUOTA" => Self::Quota,
            b"STORE" => {
                r.space()?;
                Self::Store(safe_decode_utf8(r.rest()))
            }
            b"EXPIRED" => Self::Expired,
            b"NO_MSG" => Self::NoMsg,
            b"LARGE_MSG" => Self::LargeMsg,
            b"INTERNAL" => Self::Internal,
            b"DUPLICATE_" => Self::Duplicate,
            _ => return Err(unknown(at, "error type")),
        })
    }

    /// The error as it is sent in an SMP `ERR` at version `v`: `BLOCKED` becomes `AUTH` below
    /// v12 and loses its notice below v18. Other errors are unchanged.
    pub fn for_smp_version(&self, v: Version) -> Cow<'_, ErrorType> {
        match self {
            Self::Blocked(_) if v < smp::BLOCKED_ENTITY => Cow::Owned(Self::Auth),
            Self::Blocked(info) if v < smp::CLIENT_NOTICES && info.notice.is_some() => {
                Cow::Owned(Self::Blocked(BlockingInfo {
                    reason: info.reason,
                    notice: None,
                }))
            }
            _ => Cow::Borrowed(self),
        }
    }

    /// The JSON token form of `FORMAT.md` (keywords and string payloads).
    pub fn to_tokens(&self) -> Vec<String> {
        let mut v = Vec::new();
        self.put_tokens(&mut v);
        v
    }

    fn put_tokens(&self, v: &mut Vec<String>) {
        let kw = match self {
            Self::Block => "BLOCK",
            Self::Session => "SESSION",
            Self::Cmd(c) => {
                v.push("CMD".into());
                v.push(c.as_str().into());
                return;
            }
            Self::Proxy(p) => {
                v.push("PROXY".into());
                p.put_tokens(v);
                return;
            }
            Self::Auth => "AUTH",
            Self::Blocked(b) => {
                v.push("BLOCKED".into());
                v.push(b.to_text());
                return;
            }
            Self::Service => "SERVICE",
            Self::Crypto => "CRYPTO",
            Self::Quota => "QUOTA",
            Self::Store(s) => {
                v.push("STORE".into());
                v.push(s.clone());
                return;
            }
            Self::NoMsg => "NO_MSG",
            Self::LargeMsg => "LARGE_MSG",
            Self::Expired => "EXPIRED",
            Self::Internal => "INTERNAL",
            Self::Duplicate => "DUPLICATE_",
        };
        v.push(kw.into());
    }

    /// Parses the JSON token form; `None` unless all tokens are used.
    pub fn from_tokens<S: AsRef<str>>(t: &[S]) -> Option<Self> {
        let mut i = 0;
        let e = Self::take_tokens(t, &mut i, 0)?;
        (i == t.len()).then_some(e)
    }

    fn take_tokens<S: AsRef<str>>(t: &[S], i: &mut usize, depth: usize) -> Option<Self> {
        let mut next = || {
            let s = t.get(*i)?.as_ref();
            *i += 1;
            Some(s)
        };
        Some(match next()? {
            "BLOCK" => Self::Block,
            "SESSION" => Self::Session,
            "CMD" => Self::Cmd(CommandError::from_keyword(next()?.as_bytes())?),
            "PROXY" => {
                if depth >= MAX_ERROR_NESTING {
                    return None;
                }
                Self::Proxy(Box::new(match next()? {
                    "PROTOCOL" => ProxyError::Protocol(Self::take_tokens(t, i, depth + 1)?),
                    "BROKER" => ProxyError::Broker(BrokerErrorType::take_tokens(t, i)?),
                    "BASIC_AUTH" => ProxyError::BasicAuth,
                    "NO_SESSION" => ProxyError::NoSession,
                    _ => return None,
                }))
            }
            "AUTH" => Self::Auth,
            "BLOCKED" => {
                let s = next()?;
                let mut r = Reader::new(s.as_bytes());
                let b = BlockingInfo::read_text(&mut r).ok()?;
                r.finish().ok()?;
                Self::Blocked(b)
            }
            "SERVICE" => Self::Service,
            "CRYPTO" => Self::Crypto,
            "QUOTA" => Self::Quota,
            "STORE" => Self::Store(next()?.into()),
            "NO_MSG" => Self::NoMsg,
            "LARGE_MSG" => Self::LargeMsg,
            "EXPIRED" => Self::Expired,
            "INTERNAL" => Self::Internal,
            "DUPLICATE_" => Self::Duplicate,
            _ => return None,
        })
    }

    /// Whether all strings fit their encodings (Latin-1 short strings, nesting limit).
    pub fn is_valid(&self) -> bool {
        self.valid_at(0)
    }

    fn valid_at(&self, depth: usize) -> bool {
        match self {
            Self::Proxy(p) => {
                depth < MAX_ERROR_NESTING
                    && match &**p {
                        ProxyError::Protocol(e) => e.valid_at(depth + 1),
                        ProxyError::Broker(b) => b.is_valid(),
                        _ => true,
                    }
            }
            _ => true,
        }
    }
}

impl ProxyError {
    fn read(r: &mut Reader<'_>, depth: usize) -> DecodeResult<Self> {
        let at = r.offset();
        Ok(match keyword(r) {
            b"PROTOCOL" => {
                r.space()?;
                if depth >= MAX_ERROR_NESTING {
                    return Err(r.error(DecodeErrorKind::BadValue, "less error nesting"));
                }
                Self::Protocol(ErrorType::read(r, depth + 1)?)
            }
            b"BROKER" => {
                r.space()?;
                Self::Broker(BrokerErrorType::decode(r)?)
            }
            b"BASIC_AUTH" => Self::BasicAuth,
            b"NO_SESSION" => Self::NoSession,
            _ => return Err(unknown(at, "proxy error")),
        })
    }

    fn put_tokens(&self, v: &mut Vec<String>) {
        match self {
            Self::Protocol(e) => {
                v.push("PROTOCOL".into());
                e.put_tokens(v);
            }
            Self::Broker(b) => {
                v.push("BROKER".into());
                b.put_tokens(v);
            }
            Self::BasicAuth => v.push("BASIC_AUTH".into()),
            Self::NoSession => v.push("NO_SESSION".into()),
        }
    }
}

impl BrokerErrorType {
    fn put_tokens(&self, v: &mut Vec<String>) {
        match self {
            Self::Response(s) => {
                v.push("RESPONSE".into());
                v.push(s.clone());
            }
            Self::Unexpected(s) => {
                v.push("UNEXPECTED".into());
                v.push(s.clone());
            }
            Self::Network(n) => {
                v.push("NETWORK".into());
                match n {
                    NetworkError::Connect(s) => v.extend(["CONNECT".into(), s.clone()]),
                    NetworkError::Tls(s) => v.extend(["TLS".into(), s.clone()]),
                    NetworkError::UnknownCa => v.push("UNKNOWNCA".into()),
                    NetworkError::Failed => {}
                    NetworkError::Timeout => v.push("TIMEOUT".into()),
                    NetworkError::Subscribe(s) => v.extend(["SUBSCRIBE".into(), s.clone()]),
                }
            }
            Self::Transport(t) => {
                v.push("TRANSPORT".into());
                match t {
                    TransportError::Handshake(h) => {
                        v.extend(["HANDSHAKE".into(), h.as_str().into()])
                    }
                    other => v.push(other.keyword().into()),
                }
            }
            Self::Timeout => v.push("TIMEOUT".into()),
            Self::Host => v.push("HOST".into()),
            Self::NoService => v.push("NO_SERVICE".into()),
        }
    }

    fn take_tokens<S: AsRef<str>>(t: &[S], i: &mut usize) -> Option<Self> {
        let get = |i: &mut usize| {
            let s = t.get(*i)?.as_ref();
            *i += 1;
            Some(s)
        };
        let latin1 = |s: &str| is_latin1(s, 255).then(|| String::from(s));
        Some(match get(i)? {
            "RESPONSE" => Self::Response(latin1(get(i)?)?),
            "UNEXPECTED" => Self::Unexpected(latin1(get(i)?)?),
            "NETWORK" => Self::Network(match t.get(*i).map(AsRef::as_ref) {
                None => NetworkError::Failed,
                Some(k) => {
                    *i += 1;
                    match k {
                        "CONNECT" => NetworkError::Connect(latin1(get(i)?)?),
                        "TLS" => NetworkError::Tls(latin1(get(i)?)?),
                        "UNKNOWNCA" => NetworkError::UnknownCa,
                        "FAILED" => NetworkError::Failed,
                        "TIMEOUT" => NetworkError::Timeout,
                        "SUBSCRIBE" => NetworkError::Subscribe(latin1(get(i)?)?),
                        _ => return None,
                    }
                }
            }),
            "TRANSPORT" => Self::Transport(match get(i)? {
                "HANDSHAKE" => {
                    TransportError::Handshake(HandshakeError::from_keyword(get(i)?.as_bytes())?)
                }
                k => TransportError::from_keyword(k.as_bytes())?,
            }),
            "TIMEOUT" => Self::Timeout,
            "HOST" => Self::Host,
            "NO_SERVICE" => Self::NoService,
            _ => return None,
        })
    }

    /// Whether the strings are Latin-1 of at most 255 chars (so they encode as short bytes).
    pub fn is_valid(&self) -> bool {
        match self {
            Self::Response(s) | Self::Unexpected(s) => is_latin1(s, 255),
            Self::Network(
                NetworkError::Connect(s) | NetworkError::Tls(s) | NetworkError::Subscribe(s),
            ) => is_latin1(s, 255),
            _ => true,
        }
    }
}

impl TransportError {
    fn keyword(self) -> &'static str {
        match self {
            Self::Block => "BLOCK",
            Self::Version => "VERSION",
            Self::LargeMsg => "LARGE_MSG",
            Self::Session => "SESSION",
            Self::NoAuth => "NO_AUTH",
            Self::Handshake(_) => "HANDSHAKE",
        }
    }

    fn from_keyword(k: &[u8]) -> Option<Self> {
        Some(match k {
            b"BLOCK" => Self::Block,
            b"VERSION" => Self::Version,
            b"LARGE_MSG" => Self::LargeMsg,
            b"SESSION" => Self::Session,
            b"NO_AUTH" => Self::NoAuth,
            _ => return None,
        })
    }
}

impl Encode for ErrorType {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Cmd(c) => {
                out.extend_from_slice(b"CMD ");
                out.extend_from_slice(c.as_str().as_bytes());
            }
            Self::Proxy(p) => {
                out.extend_from_slice(b"PROXY ");
                p.encode(out);
            }
            Self::Blocked(b) => {
                out.extend_from_slice(b"BLOCKED ");
                b.put_text(out);
            }
            Self::Store(s) => {
                out.extend_from_slice(b"STORE ");
                out.extend_from_slice(s.as_bytes());
            }
            other => {
                let mut t = Vec::with_capacity(1);
                other.put_tokens(&mut t);
                out.extend_from_slice(t[0].as_bytes());
            }
        }
    }
}

impl<'a> Decode<'a> for ErrorType {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        ErrorType::read(r, 0)
    }
}

impl Encode for ProxyError {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Protocol(e) => {
                out.extend_from_slice(b"PROTOCOL ");
                e.encode(out);
            }
            Self::Broker(b) => {
                out.extend_from_slice(b"BROKER ");
                b.encode(out);
            }
            Self::BasicAuth => out.extend_from_slice(b"BASIC_AUTH"),
            Self::NoSession => out.extend_from_slice(b"NO_SESSION"),
        }
    }
}

impl<'a> Decode<'a> for ProxyError {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        ProxyError::read(r, 0)
    }
}

impl Encode for BrokerErrorType {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Response(s) => {
                out.extend_from_slice(b"RESPONSE ");
                put_latin1_short(out, s);
            }
            Self::Unexpected(s) => {
                out.extend_from_slice(b"UNEXPECTED ");
                put_latin1_short(out, s);
            }
            Self::Transport(t) => {
                out.extend_from_slice(b"TRANSPORT ");
                t.encode(out);
            }
            Self::Network(_) => out.extend_from_slice(b"NETWORK"),
            Self::Timeout => out.extend_from_slice(b"TIMEOUT"),
            Self::Host => out.extend_from_slice(b"HOST"),
            Self::NoService => out.extend_from_slice(b"NO_SERVICE"),
        }
    }
}

impl<'a> Decode<'a> for BrokerErrorType {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        Ok(match keyword(r) {
            b"RESPONSE" => Self::Response(read_latin1_short(r, "response text")?),
            b"UNEXPECTED" => Self::Unexpected(read_latin1_short(r, "response text")?),
            b"TRANSPORT" => {
                r.space()?;
                Self::Transport(TransportError::decode(r)?)
            }
            b"NETWORK" => {
                let cp = r.checkpoint();
                let detail = if r.eat(b' ') {
                    match NetworkError::decode(r) {
                        Ok(n) => n,
                        Err(_) => {
                            r.restore(cp);
                            NetworkError::Failed
                        }
                    }
                } else {
                    NetworkError::Failed
                };
                Self::Network(detail)
            }
            b"TIMEOUT" => Self::Timeout,
            b"HOST" => Self::Host,
            b"NO_SERVICE" => Self::NoService,
            _ => return Err(unknown(at, "broker error")),
        })
    }
}

impl Encode for NetworkError {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Connect(s) => {
                out.extend_from_slice(b"CONNECT ");
                put_latin1_short(out, s);
            }
            Self::Tls(s) => {
                out.extend_from_slice(b"TLS ");
                put_latin1_short(out, s);
            }
            Self::UnknownCa => out.extend_from_slice(b"UNKNOWNCA"),
            Self::Failed => out.extend_from_slice(b"FAILED"),
            Self::Timeout => out.extend_from_slice(b"TIMEOUT"),
            Self::Subscribe(s) => {
                out.extend_from_slice(b"SUBSCRIBE ");
                put_latin1_short(out, s);
            }
        }
    }
}

impl<'a> Decode<'a> for NetworkError {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        Ok(match keyword(r) {
            b"CONNECT" => Self::Connect(read_latin1_short(r, "error text")?),
            b"TLS" => Self::Tls(read_latin1_short(r, "error text")?),
            b"UNKNOWNCA" => Self::UnknownCa,
            b"FAILED" => Self::Failed,
            b"TIMEOUT" => Self::Timeout,
            b"SUBSCRIBE" => Self::Subscribe(read_latin1_short(r, "error text")?),
            _ => return Err(unknown(at, "network error")),
        })
    }
}

impl Encode for TransportError {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.keyword().as_bytes());
        if let Self::Handshake(h) = self {
            out.push(b' ');
            out.extend_from_slice(h.as_str().as_bytes());
        }
    }
}

impl<'a> Decode<'a> for TransportError {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let k = keyword(r);
        if k == b"HANDSHAKE" {
            r.space()?;
            let at = r.offset();
            let w = r.take_till(|c| c == b' ' || c == b'\n');
            return HandshakeError::read_word(w)
                .map(Self::Handshake)
                .ok_or(DecodeError::new(
                    DecodeErrorKind::BadValue,
                    at,
                    "handshake error",
                ));
        }
        TransportError::from_keyword(k).ok_or(unknown(at, "transport error"))
    }
}

impl fmt::Display for ErrorType {
    /// The space-separated tokens (the wire text, with short strings shown without their length).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.to_tokens().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
        }
        Ok(())
    }
}

/// A strict JSON reader matching the reference's JSON decoder (aeson 2.2) closely enough to
/// validate a client notice.
mod json {
    use super::ClientNotice;
    use alloc::string::String;

    struct P<'a> {
        s: &'a [u8],
        i: usize,
        depth: usize,
    }

    enum Val {
        Null,
        Int(Option<i64>),
        Other,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while matches!(self.s.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                self.i += 1;
            }
        }

        fn eat(&mut self, lit: &[u8]) -> bool {
            if self.s[self.i..].starts_with(lit) {
                self.i += lit.len();
                true
            } else {
                false
            }
        }

        fn value(&mut self) -> Option<Val> {
            self.ws();
            match *self.s.get(self.i)? {
                b'{' => {
                    self.object()?;
                    Some(Val::Other)
                }
                b'[' => {
                    self.i += 1;
                    self.enter()?;
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                    } else {
                        loop {
                            self.value()?;
                            self.ws();
                            match self.s.get(self.i)? {
                                b',' => self.i += 1,
                                b']' => {
                                    self.i += 1;
                                    break;
                                }
                                _ => return None,
                            }
                        }
                    }
                    self.depth -= 1;
                    Some(Val::Other)
                }
                b'"' => {
                    self.string()?;
                    Some(Val::Other)
                }
                b'n' if self.eat(b"null") => Some(Val::Null),
                b't' if self.eat(b"true") => Some(Val::Other),
                b'f' if self.eat(b"false") => Some(Val::Other),
                b'-' | b'0'..=b'9' => self.number().map(Val::Int),
                _ => None,
            }
        }

        fn enter(&mut self) -> Option<()> {
            self.depth += 1;
            (self.depth <= 512).then_some(())
        }

        /// An object; returns the first "ttl" member's value.
        fn object(&mut self) -> Option<Option<Val>> {
            self.i += 1;
            self.enter()?;
            let mut ttl = None;
            self.ws();
            if self.s.get(self.i) == Some(&b'}') {
                self.i += 1;
            } else {
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return None;
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return None;
                    }
                    self.i += 1;
                    let v = self.value()?;
                    if k == "ttl" && ttl.is_none() {
                        ttl = Some(v);
                    }
                    self.ws();
                    match self.s.get(self.i)? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
            }
            self.depth -= 1;
            Some(ttl)
        }

        fn hex4(&mut self) -> Option<u32> {
            let h = self.s.get(self.i..self.i + 4)?;
            let mut v = 0;
            for &c in h {
                v = v * 16 + (c as char).to_digit(16)?;
            }
            self.i += 4;
            Some(v)
        }

        fn string(&mut self) -> Option<String> {
            self.i += 1;
            let mut out = alloc::vec::Vec::new();
            loop {
                let c = *self.s.get(self.i)?;
                self.i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let e = *self.s.get(self.i)?;
                        self.i += 1;
                        let ch = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let u = self.hex4()?;
                                let cp = if (0xd800..0xdc00).contains(&u) {
                                    if !self.eat(b"\\u") {
                                        return None;
                                    }
                                    let lo = self.hex4()?;
                                    if !(0xdc00..0xe000).contains(&lo) {
                                        return None;
                                    }
                                    0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    u
                                };
                                char::from_u32(cp)?
                            }
                            _ => return None,
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    0..=0x1f => return None,
                    _ => out.push(c),
                }
            }
            String::from_utf8(out).ok()
        }

        /// A JSON number; `Some(n)` when it is integral and fits int64 (aeson's `toBoundedInteger`).
        fn number(&mut self) -> Option<Option<i64>> {
            let neg = self.eat(b"-");
            let digits = |p: &mut Self| {
                let st = p.i;
                while p.s.get(p.i).is_some_and(u8::is_ascii_digit) {
                    p.i += 1;
                }
                (st, p.i)
            };
            let (a, b) = digits(self);
            if a == b || (self.s[a] == b'0' && b - a > 1) {
                return None;
            }
            let int = &self.s[a..b];
            let mut frac: &[u8] = &[];
            if self.eat(b".") {
                let (c, d) = digits(self);
                if c == d {
                    return None;
                }
                frac = &self.s[c..d];
            }
            let mut exp: i64 = 0;
            if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
                self.i += 1;
                let eneg = if self.eat(b"-") {
                    true
                } else {
                    self.eat(b"+");
                    false
                };
                let (c, d) = digits(self);
                if c == d {
                    return None;
                }
                // the reference converts the exponent to a machine Int, wrapping
                let e = self.s[c..d].iter().fold(0u64, |x, &d| {
                    x.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
                }) as i64;
                exp = if eneg { e.wrapping_neg() } else { e };
            }
            // digits of the coefficient and the exponent of its last digit
            let exp = i128::from(exp.wrapping_sub(frac.len() as i64));
            let mut coef: alloc::vec::Vec<u8> = int.iter().chain(frac).copied().collect();
            let mut exp = exp;
            while coef.last() == Some(&b'0') {
                coef.pop();
                exp += 1;
            }
            let first = coef.iter().position(|&c| c != b'0');
            let Some(first) = first else {
                return Some(Some(0));
            };
            let coef = &coef[first..];
            if exp < 0 || coef.len() as i128 + exp > 19 {
                return Some(None);
            }
            let mut v: i128 = 0;
            for &c in coef {
                v = v * 10 + i128::from(c - b'0');
            }
            for _ in 0..exp {
                v *= 10;
            }
            let v = if neg { -v } else { v };
            Some(i64::try_from(v).ok())
        }
    }

    pub(super) fn parse_notice(s: &[u8]) -> Option<ClientNotice> {
        let mut p = P { s, i: 0, depth: 0 };
        p.ws();
        if p.s.get(p.i) != Some(&b'{') {
            // must be an object, but the whole value is parsed first
            p.value()?;
            return None;
        }
        let ttl = p.object()?;
        p.ws();
        if p.i != s.len() {
            return None;
        }
        let ttl = match ttl {
            None | Some(Val::Null) => None,
            Some(Val::Int(Some(n))) => Some(n),
            Some(_) => return None,
        };
        Some(ClientNotice { ttl })
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for ErrorType {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.to_tokens().serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for ErrorType {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let t = Vec::<String>::deserialize(d)?;
            ErrorType::from_tokens(&t).ok_or_else(|| D::Error::custom("invalid error type tokens"))
        }
    }
}

#[cfg(feature = "arbitrary")]
mod arb {
    use super::*;
    use arbitrary::{Arbitrary, Result, Unstructured};

    fn latin1(u: &mut Unstructured<'_>) -> Result<String> {
        let n = u.int_in_range(0..=40usize)?;
        Ok(latin1_to_string(u.bytes(n)?))
    }

    fn error_at(u: &mut Unstructured<'_>, depth: usize) -> Result<ErrorType> {
        let k = u.int_in_range(0..=14u8)?;
        Ok(match k {
            0 => ErrorType::Block,
            1 => ErrorType::Session,
            2 => ErrorType::Cmd(u.arbitrary()?),
            3 if depth < 3 => ErrorType::Proxy(Box::new(match u.int_in_range(0..=3u8)? {
                0 => ProxyError::Protocol(error_at(u, depth + 1)?),
                1 => ProxyError::Broker(u.arbitrary()?),
                2 => ProxyError::BasicAuth,
                _ => ProxyError::NoSession,
            })),
            4 => ErrorType::Blocked(u.arbitrary()?),
            5 => ErrorType::Service,
            6 => ErrorType::Crypto,
            7 => ErrorType::Quota,
            8 => ErrorType::Store(String::arbitrary(u)?),
            9 => ErrorType::NoMsg,
            10 => ErrorType::LargeMsg,
            11 => ErrorType::Expired,
            12 => ErrorType::Internal,
            13 => ErrorType::Duplicate,
            _ => ErrorType::Auth,
        })
    }

    impl<'a> Arbitrary<'a> for ErrorType {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            error_at(u, 0)
        }
    }

    impl<'a> Arbitrary<'a> for BrokerErrorType {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            // the NETWORK detail is not encoded, so only `Failed` round-trips
            Ok(match u.int_in_range(0..=6u8)? {
                0 => Self::Response(latin1(u)?),
                1 => Self::Unexpected(latin1(u)?),
                2 => Self::Network(NetworkError::Failed),
                3 => Self::Transport(u.arbitrary()?),
                4 => Self::Timeout,
                5 => Self::Host,
                _ => Self::NoService,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn dec(b: &[u8]) -> DecodeResult<ErrorType> {
        ErrorType::decode_exact(b)
    }

    fn toks(e: &ErrorType) -> Vec<String> {
        e.to_tokens()
    }

    #[test]
    fn decode_err_vectors() {
        // ntf/response/ERR/NETWORK_detail_dropped_FAILED (after "ERR ")
        let e = dec(b"PROXY BROKER NETWORK FAILED").unwrap();
        assert_eq!(toks(&e), ["PROXY", "BROKER", "NETWORK"]);
        assert_eq!(e.to_bytes(), b"PROXY BROKER NETWORK");
        assert_eq!(toks(&dec(b"AUTH").unwrap()), ["AUTH"]);
        // ntf/response/ERR/STORE_utf8
        let e = dec(&h(
            "53544f524520d0bed188d0b8d0b1d0bad0b020d185d180d0b0d0bdd0b8d0bbd0b8d189d0b0",
        ))
        .unwrap();
        assert_eq!(e, ErrorType::Store("ошибка хранилища".into()));
        assert_eq!(
            e.to_bytes(),
            h("53544f524520d0bed188d0b8d0b1d0bad0b020d185d180d0b0d0bdd0b8d0bbd0b8d189d0b0")
        );
        assert_eq!(
            toks(&dec(b"PROXY NO_SESSION").unwrap()),
            ["PROXY", "NO_SESSION"]
        );
        assert_eq!(
            toks(&dec(b"PROXY BROKER NO_SERVICE").unwrap()),
            ["PROXY", "BROKER", "NO_SERVICE"]
        );
        let e = dec(b"PROXY BROKER TRANSPORT HANDSHAKE BAD_SERVICE").unwrap();
        assert_eq!(
            toks(&e),
            ["PROXY", "BROKER", "TRANSPORT", "HANDSHAKE", "BAD_SERVICE"]
        );
        assert_eq!(
            e.to_bytes(),
            b"PROXY BROKER TRANSPORT HANDSHAKE BAD_SERVICE"
        );
        // smp/broker/ERR/*
        assert_eq!(toks(&dec(b"LARGE_MSG").unwrap()), ["LARGE_MSG"]);
        assert_eq!(toks(&dec(b"CMD SYNTAX").unwrap()), ["CMD", "SYNTAX"]);
        let e = dec(b"PROXY PROTOCOL STORE nested store").unwrap();
        assert_eq!(toks(&e), ["PROXY", "PROTOCOL", "STORE", "nested store"]);
        assert_eq!(e.to_bytes(), b"PROXY PROTOCOL STORE nested store");
        assert_eq!(
            toks(&dec(b"PROXY BROKER TRANSPORT SESSION").unwrap()),
            ["PROXY", "BROKER", "TRANSPORT", "SESSION"]
        );
        let e = dec(&h(
            "50524f58592042524f4b4552204e4554574f524b20544c532003626164",
        ))
        .unwrap();
        assert_eq!(toks(&e), ["PROXY", "BROKER", "NETWORK", "TLS", "bad"]);
        assert_eq!(e.to_bytes(), b"PROXY BROKER NETWORK");
        let e = dec(b"BLOCKED reason=content,notice={\"ttl\":3600}").unwrap();
        assert_eq!(
            toks(&e),
            ["BLOCKED", "reason=content,notice={\"ttl\":3600}"]
        );
        assert_eq!(
            e.to_bytes(),
            b"BLOCKED reason=content,notice={\"ttl\":3600}"
        );
    }

    #[test]
    fn rejects_bad_errors() {
        // ntf/response/invalid/ERR_PROXY_BROKER_missing
        assert!(dec(b"PROXY BROKER").is_err());
        // ntf/response/invalid/ERR_BLOCKED_bad_notice
        assert!(dec(b"BLOCKED reason=spam,notice={bad").is_err());
        // smp/broker/invalid/ERR_BLOCKED_bad/v18
        assert!(dec(b"BLOCKED reason=eggs").is_err());
        assert_eq!(dec(b"NOPE").unwrap_err().kind, DecodeErrorKind::UnknownTag);
        assert!(dec(b"AUTH ").is_err());
        assert!(dec(b"CMD").is_err());
        assert!(dec(b"PROXY BROKER NETWORK BOGUS").is_err());
        assert!(dec(b"PROXY BROKER TRANSPORT HANDSHAKE NOPE").is_err());
        assert!(dec(b"").is_err());
    }

    #[test]
    fn legacy_and_read_forms() {
        assert_eq!(
            dec(b"CMD NO_QUEUE").unwrap(),
            ErrorType::Cmd(CommandError::NoEntity)
        );
        assert_eq!(dec(b"CMD NO_QUEUE").unwrap().to_bytes(), b"CMD NO_ENTITY");
        let hs = |w: &[u8]| {
            let mut b = b"PROXY BROKER TRANSPORT HANDSHAKE ".to_vec();
            b.extend_from_slice(w);
            dec(&b)
        };
        assert!(hs(b"(PARSE)").is_ok());
        assert!(hs(b"((\tIDENTITY\t))").is_ok());
        assert!(hs(b"(PARSE").is_err());
        assert!(hs(b"parse").is_err());
        let e = dec(b"PROXY BROKER RESPONSE \x03a\xffc").unwrap();
        assert_eq!(toks(&e), ["PROXY", "BROKER", "RESPONSE", "a\u{ff}c"]);
        assert_eq!(e.to_bytes(), b"PROXY BROKER RESPONSE \x03a\xffc");
        assert_eq!(
            dec(b"STORE a\xffb").unwrap(),
            ErrorType::Store("a?b".into())
        );
    }

    #[test]
    fn client_notice_json() {
        let p = |s: &str| ClientNotice::parse_json(s.as_bytes());
        assert_eq!(p("{}"), Some(ClientNotice { ttl: None }));
        assert_eq!(
            p(" { \"ttl\" : 3600 , \"x\": [1, {\"y\": null}] } "),
            Some(ClientNotice { ttl: Some(3600) })
        );
        assert_eq!(p("{\"ttl\":null}"), Some(ClientNotice { ttl: None }));
        assert_eq!(p("{\"ttl\":3.6e3}"), Some(ClientNotice { ttl: Some(3600) }));
        assert_eq!(
            p("{\"t\\u0074l\":-5}"),
            Some(ClientNotice { ttl: Some(-5) })
        );
        assert_eq!(
            p("{\"ttl\":1,\"ttl\":\"x\"}"),
            Some(ClientNotice { ttl: Some(1) })
        );
        assert_eq!(p("{\"ttl\":1.5}"), None);
        assert_eq!(p("{\"ttl\":01}"), None);
        assert_eq!(p("{\"ttl\":9223372036854775808}"), None);
        assert_eq!(p("{\"ttl\":\"1\"}"), None);
        assert_eq!(p("[]"), None);
        assert_eq!(p("{} x"), None);
        assert_eq!(p("{bad"), None);
        let mut out = Vec::new();
        ClientNotice { ttl: Some(-1) }.put_json(&mut out);
        assert_eq!(out, b"{\"ttl\":-1}");
        // a non-canonical notice is re-encoded canonically
        let e = dec(b"BLOCKED reason=spam,notice={ \"ttl\" : 5 }").unwrap();
        assert_eq!(e.to_bytes(), b"BLOCKED reason=spam,notice={\"ttl\":5}");
    }

    #[test]
    fn version_rule_for_blocked() {
        let b = ErrorType::Blocked(BlockingInfo {
            reason: BlockingReason::Content,
            notice: Some(ClientNotice { ttl: Some(3600) }),
        });
        assert_eq!(*b.for_smp_version(Version(6)), ErrorType::Auth);
        assert_eq!(*b.for_smp_version(Version(11)), ErrorType::Auth);
        assert_eq!(
            *b.for_smp_version(Version(12)),
            ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Content,
                notice: None
            })
        );
        assert_eq!(*b.for_smp_version(Version(18)), b);
        assert_eq!(
            *ErrorType::Quota.for_smp_version(Version(6)),
            ErrorType::Quota
        );
    }

    #[test]
    fn tokens_round_trip() {
        for t in [
            vec!["PROXY", "BROKER", "TRANSPORT", "HANDSHAKE", "IDENTITY"],
            vec!["PROXY", "BROKER", "RESPONSE", "some text"],
            vec!["STORE", "text"],
            vec!["BLOCKED", "reason=spam"],
            vec!["PROXY", "BROKER", "NETWORK", "TLS", "x"],
            vec!["PROXY", "PROTOCOL", "PROXY", "BASIC_AUTH"],
        ] {
            let e = ErrorType::from_tokens(&t).unwrap();
            assert_eq!(e.to_tokens(), t);
        }
        assert!(ErrorType::from_tokens(&["AUTH", "x"]).is_none());
        assert!(ErrorType::from_tokens(&["BLOCKED", "reason=spam,"]).is_none());
        assert_eq!(
            ErrorType::from_tokens(&["PROXY", "BROKER", "NETWORK", "FAILED"])
                .unwrap()
                .to_tokens(),
            ["PROXY", "BROKER", "NETWORK"]
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut b = Vec::new();
        for _ in 0..1000 {
            b.extend_from_slice(b"PROXY PROTOCOL ");
        }
        b.extend_from_slice(b"AUTH");
        assert!(dec(&b).is_err());
    }

    #[cfg(feature = "arbitrary")]
    proptest::proptest! {
        #[test]
        fn error_type_round_trips(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            use arbitrary::{Arbitrary, Unstructured};
            let mut u = Unstructured::new(&data);
            if let Ok(e) = ErrorType::arbitrary(&mut u) {
                proptest::prop_assert_eq!(ErrorType::decode_exact(&e.to_bytes()).unwrap(), e.clone());
                proptest::prop_assert_eq!(ErrorType::from_tokens(&e.to_tokens()).unwrap(), e);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = ErrorType::decode_exact(&data);
            let _ = ClientNotice::parse_json(&data);
        }
    }
}
