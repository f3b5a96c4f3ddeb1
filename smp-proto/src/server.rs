//! Server addresses: transport hosts, key hashes and `smp://` / `ntf://` server addresses
//! (the reference's `TransportHost`, `KeyHash` and `ProtocolServer`).
//!
//! Binary forms:
//!
//! ```text
//! transport-host = short-bytes        ; the host's text form, parsed whole
//! key-hash       = short-bytes
//! server         = nonempty(transport-host) port:short-bytes key-hash
//! ```
//!
//! Text forms:
//!
//! ```text
//! server    = scheme "://" key-hash-base64url "@" host *("," host) [":" port]
//! scheme    = "smp" / "ntf"                    ; must match the address type
//! port      = 1*DIGIT                          ; read as a 64-bit integer and shown again ("05223" -> "5223")
//! host      = ipv4 / ipv6 / onion / domain     ; tried in this order, the first that parses wins
//! ipv4      = octet "." octet "." octet "." 1*DIGIT   ; octet = 1*DIGIT in 0..=255, the last wraps modulo 256
//! ipv6      = "[" 1*(any but "]") "]" / 1*(HEXDIG / ":")   ; then read as an IPv6 address
//! onion     = *(%x61-7A / DIGIT) ".onion"
//! domain    = 1*(any but ":#,;/ " CR LF HTAB)  ; not ending in ".onion"
//! ```
//!
//! Strings the reference keeps as Haskell `String`s built from bytes (domain names, ports) are
//! held here as Rust strings whose chars are the bytes (Latin-1), so any byte round-trips.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

use smallvec::SmallVec;

use crate::coding::{put_short, put_short_with, Decode, Encode, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::text::{base64url_encode, put_base64url};

pub use crate::server_ref::{ProtocolServerRef, SmpServerRef, TransportHostRef};

/// Bytes to a string of the same chars (Latin-1), as Haskell's `B.unpack`.
pub(crate) fn latin1_to_string(b: &[u8]) -> String {
    if b.is_ascii() {
        // ASCII is the same in Latin-1 and UTF-8
        return String::from(core::str::from_utf8(b).unwrap_or_default());
    }
    b.iter().map(|&c| char::from(c)).collect()
}

/// A Latin-1 string back to bytes, as Haskell's `B.pack` (chars above U+00FF are truncated
/// to their low 8 bits, as the reference does; constructors reject them).
pub(crate) fn string_to_latin1(s: &str, out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
    } else {
        out.extend(s.chars().map(|c| c as u32 as u8));
    }
}

/// Whether all chars of `s` are at most U+00FF and it has at most `max` of them.
pub(crate) fn is_latin1(s: &str, max: usize) -> bool {
    s.chars().all(|c| (c as u32) <= 0xff) && s.chars().count() <= max
}

/// Hosts an address keeps inline: a relay's public host and its onion alias, the form of the
/// preset relays' addresses (also once [`SmpServer::with_extra_preset_hosts`] has added the
/// onion host to an address that named only the public one).
pub(crate) const INLINE_HOSTS: usize = 2;

/// `v` held inline when it fits, else in its own buffer (no copy, no new allocation).
pub(crate) fn compact<A: smallvec::Array>(v: Vec<A::Item>) -> SmallVec<A> {
    if v.len() <= A::size() {
        v.into_iter().collect()
    } else {
        SmallVec::from_vec(v)
    }
}

/// A server's host list (inline up to [`INLINE_HOSTS`]).
pub(crate) type Hosts = SmallVec<[TransportHost; INLINE_HOSTS]>;

/// A port text held inline: a Rust string whose chars are the wire bytes (Latin-1), as
/// UTF-8 bytes, stored without a heap allocation up to 16 bytes (ports are empty or a few
/// digits). Compares, orders and hashes as the string.
///
/// Invariant: the bytes are valid UTF-8 (only whole `&str`s and chars are ever appended).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct PortText(SmallVec<[u8; 16]>);

impl PortText {
    /// The port as given.
    pub(crate) fn new(s: &str) -> Self {
        Self(SmallVec::from_slice(s.as_bytes()))
    }

    /// The port from its wire bytes, each byte one char (Haskell's `B.unpack`).
    #[inline]
    pub(crate) fn from_latin1(b: &[u8]) -> Self {
        if b.is_ascii() {
            // ASCII is the same in Latin-1 and UTF-8
            return Self(SmallVec::from_slice(b));
        }
        let mut v = SmallVec::new();
        for &c in b {
            v.extend_from_slice(char::from(c).encode_utf8(&mut [0u8; 4]).as_bytes());
        }
        Self(v)
    }

    /// The port text.
    pub(crate) fn as_str(&self) -> &str {
        // always valid by the invariant; the crate forbids the unchecked conversion, and
        // checking a few bytes costs next to nothing
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Hash for PortText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // as the `String` it replaces
        self.as_str().hash(state);
    }
}

impl fmt::Debug for PortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Write for PortText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A server host: an IPv4 or IPv6 address, a Tor onion name, or a domain name.
///
/// ```text
/// transport-host = short-bytes   ; its text form (see the module docs), parsed whole
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportHost {
    /// IPv4 address.
    Ipv4([u8; 4]),
    /// IPv6 address (16 bytes, network order).
    Ipv6([u8; 16]),
    /// Onion host name including the `.onion` suffix (lowercase ASCII letters and digits).
    Onion(String),
    /// Domain name; chars are the wire bytes (Latin-1).
    Domain(String),
}

impl TransportHost {
    /// Parses the whole of `s` as a host (the reference's `parseAll strP`).
    ///
    /// # Errors
    /// `BadValue`/`Truncated` when no alternative of the grammar matches, `TrailingBytes` when
    /// the matching alternative leaves bytes over (e.g. `1.2.3.4x`).
    pub fn parse(s: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(s);
        let h = Self::read_text(&mut r)?;
        r.finish()?;
        Ok(h)
    }

    /// Reads one host in text form from the front of `r` (the reference's `strP`).
    ///
    /// # Errors
    /// `Truncated` at the end of input, `BadValue` when no alternative matches.
    pub fn read_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        TransportHostRef::read_text(r).map(|h| h.to_owned())
    }

    /// Appends the text form.
    pub fn put_text(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ipv4(a) => put_ipv4(out, *a),
            Self::Ipv6(a) => put_ipv6(out, a),
            Self::Onion(s) => out.extend_from_slice(s.as_bytes()),
            Self::Domain(s) => string_to_latin1(s, out),
        }
    }

    /// The text form as bytes.
    pub fn to_text(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.put_text(&mut v);
        v
    }
}

impl fmt::Display for TransportHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&latin1_to_string(&self.to_text()))
    }
}

impl Encode for TransportHost {
    fn encode(&self, out: &mut Vec<u8>) {
        put_short_with(out, |o| self.put_text(o));
    }
}

impl<'a> Decode<'a> for TransportHost {
    /// As [`TransportHostRef`]'s decoder, then owned.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        TransportHostRef::decode(r).map(|h| h.to_owned())
    }
}

fn put_ipv4(out: &mut Vec<u8>, a: [u8; 4]) {
    use core::fmt::Write as _;
    let mut s = String::new();
    let _ = write!(s, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    out.extend_from_slice(s.as_bytes());
}

/// IPv6 text as iproute's `show`: IPv4-mapped and IPv4-compatible forms dotted, otherwise
/// lowercase hex groups with the first longest run (at least two) of zero groups as `::`.
fn put_ipv6(out: &mut Vec<u8>, a: &[u8; 16]) {
    use core::fmt::Write as _;
    let w = |i: usize| u32::from_be_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    let (a1, a2, a3, a4) = (w(0), w(4), w(8), w(12));
    let mut s = String::new();
    let v4 = [a[12], a[13], a[14], a[15]];
    if a1 == 0 && a2 == 0 && a3 == 0xffff {
        s.push_str("::ffff:");
        out.extend_from_slice(s.as_bytes());
        return put_ipv4(out, v4);
    }
    if a1 == 0 && a2 == 0 && a3 == 0 && a4 >= 0x10000 {
        out.extend_from_slice(b"::");
        return put_ipv4(out, v4);
    }
    let g: [u16; 8] = core::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    // the first longest run of zeros
    let (mut best_start, mut best_len) = (0usize, 0usize);
    let mut i = 0;
    while i < 8 {
        if g[i] == 0 {
            let start = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_start = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let join = |s: &mut String, gs: &[u16]| {
        for (k, x) in gs.iter().enumerate() {
            if k > 0 {
                s.push(':');
            }
            let _ = write!(s, "{x:x}");
        }
    };
    if best_len > 1 {
        join(&mut s, &g[..best_start]);
        s.push_str("::");
        join(&mut s, &g[best_start + best_len..]);
    } else {
        join(&mut s, &g);
    }
    out.extend_from_slice(s.as_bytes());
}

/// The reference's host parser: the first alternative that parses wins (no backtracking into
/// a later one once an earlier one succeeded). Returns the host, borrowing names from `s`, and
/// the bytes it used.
pub(crate) fn parse_host_prefix(s: &[u8]) -> Option<(TransportHostRef<'_>, usize)> {
    if let Some(x) = ipv4_prefix(s) {
        return Some(x);
    }
    if let Some(x) = ipv6_prefix(s) {
        return Some(x);
    }
    // onion: lowercase letters and digits, then ".onion"
    let n = onion_label_len(s);
    if s[n..].starts_with(b".onion") {
        let len = n + 6;
        return Some((TransportHostRef::Onion(&s[..len]), len));
    }
    let n = s.iter().take_while(|&&c| !is_domain_stop(c)).count();
    if n == 0 || s[..n].ends_with(b".onion") {
        return None;
    }
    Some((TransportHostRef::Domain(&s[..n]), n))
}

/// The bytes that end a domain name in text: `:#,;/`, space, CR, LF and HTAB.
pub(crate) const fn is_domain_stop(c: u8) -> bool {
    // non-short-circuit `|`, so loops over it vectorize
    (c == b':') | (c == b'#') | (c == b',') | (c == b';') | (c == b'/') | (c == b' ')
        | (c == b'\n') | (c == b'\r') | (c == b'\t')
}

/// Length of the leading run of lowercase ASCII letters and digits (an onion name's label).
pub(crate) fn onion_label_len(s: &[u8]) -> usize {
    s.iter()
        .take_while(|&&c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .count()
}

/// attoparsec `decimal` at `Int` (wrapping), returning the value and the digits used.
fn decimal_i64(s: &[u8]) -> Option<(i64, usize)> {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let v = s[..n].iter().fold(0i64, |a, &d| {
        a.wrapping_mul(10).wrapping_add(i64::from(d - b'0'))
    });
    Some((v, n))
}

fn ipv4_prefix(s: &[u8]) -> Option<(TransportHostRef<'static>, usize)> {
    let mut pos = 0;
    let mut a = [0u8; 4];
    for octet in a.iter_mut().take(3) {
        let (v, n) = decimal_i64(&s[pos..])?;
        pos += n;
        if s.get(pos) != Some(&b'.') || !(0..=255).contains(&v) {
            return None;
        }
        pos += 1;
        *octet = v as u8;
    }
    let (v, n) = decimal_i64(&s[pos..])?;
    a[3] = v as u8; // Word8 arithmetic wraps
    Some((TransportHostRef::Ipv4(a), pos + n))
}

fn ipv6_prefix(s: &[u8]) -> Option<(TransportHostRef<'static>, usize)> {
    let (text, used) = if s.first() == Some(&b'[') {
        let n = s[1..].iter().take_while(|&&c| c != b']').count();
        if n > 0 && s.get(1 + n) == Some(&b']') {
            (&s[1..1 + n], n + 2)
        } else {
            return None;
        }
    } else {
        let n = s
            .iter()
            .take_while(|&&c| c.is_ascii_hexdigit() || c == b':')
            .count();
        // an address needs at least one colon: skip the parser for words like onion names
        if n == 0 || !s[..n].contains(&b':') {
            return None;
        }
        (&s[..n], n)
    };
    read_ipv6(text).map(|a| (TransportHostRef::Ipv6(a), used))
}

/// Haskell `readMaybe` at iproute's `IPv6`: its parser (built on the `appar` library, whose
/// alternatives continue from where a failed branch stopped unless wrapped in `try`), then
/// only whitespace may follow.
pub(crate) fn read_ipv6(s: &[u8]) -> Option<[u8; 16]> {
    let (groups, pos) = ip6::ip6(s);
    let groups = groups?;
    if !s[pos..]
        .iter()
        .all(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0))
    {
        return None;
    }
    let mut a = [0u8; 16];
    for (i, g) in groups.iter().enumerate() {
        let g = (*g & 0xffff) as u16;
        a[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
    }
    Some(a)
}

/// A faithful model of iproute's `ip6` parser over `appar` semantics: every parser returns
/// its result (if any) and the position it stopped at, also on failure.
mod ip6 {
    use alloc::vec::Vec;

    type R<T> = (Option<T>, usize);

    fn ch(s: &[u8], p: usize, c: u8) -> R<()> {
        if s.get(p) == Some(&c) {
            (Some(()), p + 1)
        } else {
            (None, p)
        }
    }

    /// `some hexDigit` then at most 4 digits.
    fn hex(s: &[u8], p: usize) -> R<u32> {
        let n = s[p..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if n == 0 {
            return (None, p);
        }
        if n > 4 {
            return (None, p + n);
        }
        let v = s[p..p + n]
            .iter()
            .fold(0u32, |a, &c| a * 16 + (c as char).to_digit(16).unwrap_or(0));
        (Some(v), p + n)
    }

    /// `hex <* char ':'`
    fn hex_colon(s: &[u8], p: usize) -> R<u32> {
        let (v, q) = hex(s, p);
        let Some(v) = v else { return (None, q) };
        match ch(s, q, b':') {
            (Some(()), q2) => (Some(v), q2),
            (None, q2) => (None, q2),
        }
    }

    /// `try (hex <* char ':')`
    fn try_hex_colon(s: &[u8], p: usize) -> R<u32> {
        match hex_colon(s, p) {
            (Some(v), q) => (Some(v), q),
            (None, _) => (None, p),
        }
    }

    /// `many p`: stops (successfully) where `p` failed, keeping what it consumed.
    fn many(s: &[u8], mut p: usize, f: impl Fn(&[u8], usize) -> R<u32>) -> R<Vec<u32>> {
        let mut v = Vec::new();
        loop {
            match f(s, p) {
                (Some(x), q) => {
                    v.push(x);
                    p = q;
                }
                (None, q) => return (Some(v), q),
            }
        }
    }

    /// `hex `sepBy1` char ':'`
    fn hexcolon(s: &[u8], p: usize) -> R<Vec<u32>> {
        let (first, q) = hex(s, p);
        let Some(first) = first else { return (None, q) };
        let (rest, q) = many(s, q, |s, p| match ch(s, p, b':') {
            (Some(()), q) => hex(s, q),
            (None, q) => (None, q),
        });
        let mut v = alloc::vec![first];
        v.extend(rest.unwrap_or_default());
        (Some(v), q)
    }

    /// `option [] hexcolon`
    fn opt_hexcolon(s: &[u8], p: usize) -> (Vec<u32>, usize) {
        match hexcolon(s, p) {
            (Some(v), q) => (v, q),
            (None, q) => (Vec::new(), q),
        }
    }

    /// `manyTill item (char ':')`
    fn many_till_colon(s: &[u8], mut p: usize, item: fn(&[u8], usize) -> R<u32>) -> R<Vec<u32>> {
        let mut v = Vec::new();
        loop {
            if let (Some(()), q) = ch(s, p, b':') {
                return (Some(v), q);
            }
            match item(s, p) {
                (Some(x), q) => {
                    v.push(x);
                    p = q;
                }
                (None, q) => return (None, q),
            }
        }
    }

    fn format(bs1: &[u32], bs2: &[u32]) -> Option<Vec<u32>> {
        if bs1.len() > 7 || bs2.len() > 7 || bs1.len() + bs2.len() >= 8 {
            return None;
        }
        let mut v = bs1.to_vec();
        v.resize(8 - bs2.len(), 0);
        v.extend_from_slice(bs2);
        Some(v)
    }

    /// `string "::"`
    fn colon2(s: &[u8], p: usize) -> R<()> {
        match ch(s, p, b':') {
            (Some(()), q) => ch(s, q, b':'),
            r => r,
        }
    }

    fn octet(s: &[u8], p: usize) -> R<u32> {
        if s.get(p) == Some(&b'0') {
            return (Some(0), p + 1);
        }
        match s.get(p) {
            Some(c) if (b'1'..=b'9').contains(c) => {}
            _ => return (None, p),
        }
        let n = s[p..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v = 0u32;
        for &d in &s[p..p + n] {
            v = v * 10 + u32::from(d - b'0');
            if v > 255 {
                return (None, p + n);
            }
        }
        (Some(v), p + n)
    }

    /// `ip4' True`: four octets, then spaces, then the end of input. Returns the two groups.
    fn ip4(s: &[u8], mut p: usize) -> R<[u32; 2]> {
        let mut o = [0u32; 4];
        for (i, x) in o.iter_mut().enumerate() {
            if i > 0 {
                match ch(s, p, b'.') {
                    (Some(()), q) => p = q,
                    (None, q) => return (None, q),
                }
            }
            match octet(s, p) {
                (Some(v), q) => {
                    *x = v;
                    p = q;
                }
                (None, q) => return (None, q),
            }
        }
        while s.get(p) == Some(&b' ') {
            p += 1;
        }
        if p != s.len() {
            return (None, p);
        }
        (Some([(o[0] << 8) | o[1], (o[2] << 8) | o[3]]), p)
    }

    fn before_embedded(s: &[u8], p: usize) -> (Vec<u32>, usize) {
        let (v, q) = many(s, p, try_hex_colon);
        (v.unwrap_or_default(), q)
    }

    /// `ip4Embedded' True`; every branch is wrapped in `try`, so failure does not move.
    fn ip4_embedded(s: &[u8], p: usize) -> R<Vec<u32>> {
        // "::" then groups, then the IPv4 part
        let x = (|| {
            let (c, q) = colon2(s, p);
            c?;
            let (bs, q) = before_embedded(s, q);
            let (e, q) = ip4(s, q);
            let mut tail = bs;
            tail.extend_from_slice(&e?);
            format(&[], &tail).map(|v| (v, q))
        })();
        if let Some((v, q)) = x {
            return (Some(v), q);
        }
        // groups "::" groups, then the IPv4 part
        let y = (|| {
            let (bs1, q) = many_till_colon(s, p, try_hex_colon);
            let bs1 = bs1?;
            let (bs2, q) = before_embedded(s, q);
            let (e, q) = ip4(s, q);
            let mut tail = bs2;
            tail.extend_from_slice(&e?);
            format(&bs1, &tail).map(|v| (v, q))
        })();
        if let Some((v, q)) = y {
            return (Some(v), q);
        }
        // six groups then the IPv4 part
        let z = (|| {
            let (bs, q) = before_embedded(s, p);
            let (e, q) = ip4(s, q);
            let mut rs = bs;
            rs.extend_from_slice(&e?);
            (rs.len() == 8).then_some((rs, q))
        })();
        match z {
            Some((v, q)) => (Some(v), q),
            None => (None, p),
        }
    }

    /// iproute's `ip6' True` over the whole string: the 8 groups and where it stopped.
    pub(super) fn ip6(s: &[u8]) -> R<Vec<u32>> {
        let mut p = 0;
        while s.get(p) == Some(&b' ') {
            p += 1;
        }
        // A: embedded IPv4 (restores on failure)
        if let (Some(v), q) = ip4_embedded(s, p) {
            return (Some(v), q);
        }
        // B: "::" groups; on failure the next branch starts where this one stopped
        let pc = match colon2(s, p) {
            (None, q) => q,
            (Some(()), q) => {
                let (bs, q) = opt_hexcolon(s, q);
                match format(&[], &bs) {
                    Some(v) => return (Some(v), q),
                    None => q,
                }
            }
        };
        // C: try (exactly 8 groups)
        if let (Some(rs), q) = hexcolon(s, pc) {
            if rs.len() == 8 {
                return (Some(rs), q);
            }
        }
        // D: groups "::" groups
        let (bs1, q) = many_till_colon(s, pc, hex_colon);
        let Some(bs1) = bs1 else { return (None, q) };
        let (bs2, q) = opt_hexcolon(s, q);
        match format(&bs1, &bs2) {
            Some(v) => (Some(v), q),
            None => (None, q),
        }
    }
}

/// The hash of a server's identity certificate, as used in server addresses.
///
/// ```text
/// key-hash = short-bytes            ; text form: base64url
/// ```
///
/// Held inline up to 32 bytes (a SHA-256 hash); compares, orders and hashes as the bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(SmallVec<[u8; 32]>);

impl KeyHash {
    /// A key hash of at most 255 bytes; `None` when longer.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() <= 255).then(|| Self(compact(bytes)))
    }

    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A key hash from short bytes (at most 255 bytes by the length prefix).
    #[inline]
    pub(crate) fn from_short(bytes: &[u8]) -> Self {
        // the usual length (SHA-256) as one fixed-size copy
        match <[u8; 32]>::try_from(bytes) {
            Ok(h) => Self(SmallVec::from_buf(h)),
            Err(_) => Self(SmallVec::from_slice(bytes)),
        }
    }

    /// Reads the base64url text form (non-empty) from the front of `r`.
    ///
    /// # Errors
    /// `Truncated`/`BadValue` when no base64url character is next, `BadBase64` when it does not
    /// decode, `BadLength` over 255 bytes.
    pub fn read_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let at = r.offset();
        let b = r.base64url("key hash")?;
        KeyHash::new(b).ok_or(DecodeError::new(
            DecodeErrorKind::BadLength,
            at,
            "key hash of at most 255 bytes",
        ))
    }
}

impl From<[u8; 32]> for KeyHash {
    fn from(h: [u8; 32]) -> Self {
        Self(SmallVec::from_buf(h))
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url_encode(&self.0))
    }
}

impl Encode for KeyHash {
    fn encode(&self, out: &mut Vec<u8>) {
        put_short(out, &self.0);
    }
}

impl<'a> Decode<'a> for KeyHash {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        Ok(Self::from_short(r.short_bytes("key hash")?))
    }
}

/// The scheme of a server address type (`smp`, `ntf`).
pub trait Scheme: Copy + Eq + Default + fmt::Debug + core::hash::Hash {
    /// The scheme text before `://`.
    const NAME: &'static str;
}

/// Marker for SMP relay addresses (`smp://`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Smp;

impl Scheme for Smp {
    const NAME: &'static str = "smp";
}

/// Marker for notification server addresses (`ntf://`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ntf;

impl Scheme for Ntf {
    const NAME: &'static str = "ntf";
}

/// A server address: hosts, port and the identity key hash, for the scheme `S`.
///
/// ```text
/// binary = nonempty(transport-host) port:short-bytes key-hash
/// text   = scheme "://" key-hash "@" host *("," host) [":" port]
/// ```
///
/// Valid by construction: 1 to 255 hosts whose text forms fit 255 bytes, and a port of at
/// most 255 Latin-1 chars (empty when absent).
///
/// Up to two hosts, the port and a key hash of up to 32 bytes are held inline, so a decoded
/// address allocates only for the names of its domain and onion hosts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProtocolServer<S: Scheme> {
    hosts: Hosts,
    port: PortText,
    key_hash: KeyHash,
    scheme: PhantomData<S>,
}

/// An SMP relay address (`smp://...`).
pub type SmpServer = ProtocolServer<Smp>;

/// A notification server address (`ntf://...`).
pub type NtfServer = ProtocolServer<Ntf>;

impl<S: Scheme> ProtocolServer<S> {
    /// A server address; `None` when the hosts are empty or more than 255, a host's text form
    /// is over 255 bytes, or the port is not at most 255 Latin-1 chars.
    pub fn new(
        hosts: Vec<TransportHost>,
        port: impl Into<String>,
        key_hash: KeyHash,
    ) -> Option<Self> {
        let port = port.into();
        let ok = !hosts.is_empty()
            && hosts.len() <= 255
            && hosts.iter().all(|h| h.to_text().len() <= 255)
            && is_latin1(&port, 255);
        ok.then(|| Self {
            hosts: compact(hosts),
            port: PortText::new(&port),
            key_hash,
            scheme: PhantomData,
        })
    }

    /// A server from decoded parts (already valid: the binary form bounds every length).
    #[inline]
    pub(crate) fn from_parts(hosts: Hosts, port: PortText, key_hash: KeyHash) -> Self {
        Self {
            hosts,
            port,
            key_hash,
            scheme: PhantomData,
        }
    }

    /// The hosts (at least one).
    pub fn hosts(&self) -> &[TransportHost] {
        &self.hosts
    }

    /// The port text, empty when absent (the client then uses the default port).
    pub fn port(&self) -> &str {
        self.port.as_str()
    }

    /// The identity key hash.
    pub fn key_hash(&self) -> &KeyHash {
        &self.key_hash
    }

    /// Parses the whole of `s` as the text form.
    ///
    /// # Errors
    /// As [`ProtocolServer::read_text`], or `TrailingBytes`.
    pub fn parse_text(s: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(s);
        let v = Self::read_text(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    /// Reads the text form from the front of `r` (the reference's `strP`), stopping after the
    /// port (or the last host).
    ///
    /// # Errors
    /// `BadValue` for another or unknown scheme, basic auth (`:auth` before `@`), a bad host,
    /// or a missing separator; `BadBase64` for the key hash; `Truncated` at the end of input.
    pub fn read_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let at = r.offset();
        let scheme = r.take_till(|c| c == b':' || c == b' ');
        if !matches!(scheme, b"smp" | b"ntf" | b"xftp") {
            let kind = if r.is_empty() && scheme.is_empty() {
                DecodeErrorKind::Truncated
            } else {
                DecodeErrorKind::BadValue
            };
            return Err(DecodeError::new(kind, at, "server scheme"));
        }
        if !r.eat_slice(b"://") {
            return Err(r.error(DecodeErrorKind::BadValue, "://"));
        }
        if scheme != S::NAME.as_bytes() {
            return Err(DecodeError::new(DecodeErrorKind::BadValue, at, S::NAME));
        }
        let key_hash = KeyHash::read_text(r)?;
        if r.peek() == Some(b':') {
            return Err(r.error(DecodeErrorKind::BadValue, "server without basic auth"));
        }
        r.expect(b'@', "@")?;
        let mut hosts = Hosts::new();
        loop {
            hosts.push(TransportHost::read_text(r)?);
            if hosts.len() > 255 {
                return Err(r.error(DecodeErrorKind::BadLength, "at most 255 hosts"));
            }
            let cp = r.checkpoint();
            if r.eat(b',') {
                let mut probe = r.clone();
                if TransportHostRef::read_text(&mut probe).is_ok() {
                    continue;
                }
                r.restore(cp);
            }
            break;
        }
        let mut port = PortText::default();
        let cp = r.checkpoint();
        if r.eat(b':') {
            match r.decimal_wrapping("port") {
                Ok(v) => {
                    use core::fmt::Write as _;
                    let _ = write!(port, "{}", v as i64);
                }
                Err(_) => r.restore(cp),
            }
        }
        Ok(Self {
            hosts,
            port,
            key_hash,
            scheme: PhantomData,
        })
    }

    /// Appends the text form.
    pub fn put_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(S::NAME.as_bytes());
        out.extend_from_slice(b"://");
        put_base64url(out, self.key_hash.as_bytes());
        out.push(b'@');
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            h.put_text(out);
        }
        if !self.port.0.is_empty() {
            out.push(b':');
            string_to_latin1(self.port.as_str(), out);
        }
    }

    /// The text form as bytes.
    pub fn to_text(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.put_text(&mut v);
        v
    }
}

/// Preset relays whose onion host the reference adds when an address names only the public
/// host (the reference's `extraSMPServerHosts`).
pub const EXTRA_SMP_SERVER_HOSTS: [(&str, &str); 6] = [
    (
        "smp4.simplex.im",
        "o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion",
    ),
    (
        "smp5.simplex.im",
        "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion",
    ),
    (
        "smp6.simplex.im",
        "bylepyau3ty4czmn77q4fglvperknl4bi2eb2fdy2bh4jxtf32kf73yd.onion",
    ),
    (
        "smp8.simplex.im",
        "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion",
    ),
    (
        "smp9.simplex.im",
        "jssqzccmrcws6bhmn77vgmhfjmhwlyr3u7puw4erkyoosywgl67slqqd.onion",
    ),
    (
        "smp10.simplex.im",
        "rb2pbttocvnbrngnwziclp2f4ckjq65kebafws6g4hy22cdaiv5dwjqd.onion",
    ),
];

impl SmpServer {
    /// The reference's `updateSMPServerHosts`, applied when decoding an SMP queue address: a
    /// server with exactly one host that is a preset relay's domain gets that relay's onion
    /// host added as a second host. Any other server is returned unchanged.
    #[inline]
    pub fn with_extra_preset_hosts(mut self) -> Self {
        self.add_extra_preset_hosts();
        self
    }

    /// [`SmpServer::with_extra_preset_hosts`] in place (a decoder's way to apply it to a
    /// server inside a larger value without moving it).
    pub fn add_extra_preset_hosts(&mut self) {
        if let [TransportHost::Domain(d)] = self.hosts.as_slice() {
            if let Some((_, onion)) = EXTRA_SMP_SERVER_HOSTS
                .iter()
                .find(|(h, _)| *h == d.as_str())
            {
                // inline: a single host leaves room for a second one
                self.hosts.push(TransportHost::Onion(String::from(*onion)));
            }
        }
    }
}

impl<S: Scheme> fmt::Display for ProtocolServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&latin1_to_string(&self.to_text()))
    }
}

impl<S: Scheme> Encode for ProtocolServer<S> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.hosts.len() as u8);
        for h in &self.hosts {
            h.encode(out);
        }
        put_short_with(out, |o| string_to_latin1(self.port.as_str(), o));
        self.key_hash.encode(out);
    }
}

impl<'a, S: Scheme> Decode<'a> for ProtocolServer<S> {
    /// One pass over the input (the borrowed [`ProtocolServerRef`] reads the same bytes with
    /// the same errors). Up to two hosts, the port and the key hash stay inline; a single
    /// host leaves room for the onion host that [`ProtocolServer::with_extra_preset_hosts`]
    /// may add.
    #[inline]
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        if r.peek() == Some(0) {
            return Err(r.error(DecodeErrorKind::EmptyList, "server hosts"));
        }
        let n = usize::from(r.u8("server hosts")?);
        let mut hosts = Hosts::new();
        if n > INLINE_HOSTS {
            // each host is at least one byte: a count beyond the input is truncated input
            hosts.reserve_exact(n.min(r.remaining()));
        }
        for _ in 0..n {
            hosts.push(TransportHostRef::decode(r)?.to_owned());
        }
        let port = r.short_bytes("port")?;
        let key_hash = r.short_bytes("key hash")?;
        // built where it is returned (the value is too large to move cheaply)
        Ok(Self {
            hosts,
            port: PortText::from_latin1(port),
            key_hash: KeyHash::from_short(key_hash),
            scheme: PhantomData,
        })
    }
}

#[cfg(feature = "serde")]
mod json {
    //! `{"hosts": [TEXT, ...], "port": STRING, "key_hash": HEX}`.
    use super::*;
    use crate::json::{hex_decode, hex_encode};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct ServerJson {
        hosts: Vec<String>,
        port: String,
        key_hash: String,
    }

    fn host_from_str<E: serde::de::Error>(s: &str) -> Result<TransportHost, E> {
        if !is_latin1(s, usize::MAX) {
            return Err(E::custom("host text must be Latin-1"));
        }
        let mut b = Vec::new();
        string_to_latin1(s, &mut b);
        TransportHost::parse(&b).or_else(|e| {
            // the text form writes IPv4-mapped and -compatible IPv6 addresses dotted
            // (`::ffff:10.0.0.1`), which the protocol's host parser cannot read back; the JSON
            // form must round-trip, so such a string is read as the address it names
            match s.parse::<core::net::Ipv6Addr>() {
                Ok(a) if s.contains('.') => Ok(TransportHost::Ipv6(a.octets())),
                _ => Err(E::custom(e)),
            }
        })
    }

    impl Serialize for TransportHost {
        fn serialize<Se: Serializer>(&self, s: Se) -> Result<Se::Ok, Se::Error> {
            s.serialize_str(&latin1_to_string(&self.to_text()))
        }
    }

    impl<'de> Deserialize<'de> for TransportHost {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            host_from_str(&String::deserialize(d)?)
        }
    }

    impl Serialize for KeyHash {
        fn serialize<Se: Serializer>(&self, s: Se) -> Result<Se::Ok, Se::Error> {
            s.serialize_str(&hex_encode(&self.0))
        }
    }

    impl<'de> Deserialize<'de> for KeyHash {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let b = hex_decode(&String::deserialize(d)?).map_err(D::Error::custom)?;
            KeyHash::new(b).ok_or_else(|| D::Error::custom("key hash over 255 bytes"))
        }
    }

    impl<S: Scheme> Serialize for ProtocolServer<S> {
        fn serialize<Se: Serializer>(&self, s: Se) -> Result<Se::Ok, Se::Error> {
            ServerJson {
                hosts: self
                    .hosts
                    .iter()
                    .map(|h| latin1_to_string(&h.to_text()))
                    .collect(),
                port: self.port.as_str().into(),
                key_hash: hex_encode(&self.key_hash.0),
            }
            .serialize(s)
        }
    }

    impl<'de, S: Scheme> Deserialize<'de> for ProtocolServer<S> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = ServerJson::deserialize(d)?;
            let hosts = j
                .hosts
                .iter()
                .map(|h| host_from_str(h))
                .collect::<Result<Vec<_>, _>>()?;
            let kh = KeyHash::new(hex_decode(&j.key_hash).map_err(D::Error::custom)?)
                .ok_or_else(|| D::Error::custom("key hash over 255 bytes"))?;
            ProtocolServer::new(hosts, j.port, kh).ok_or_else(|| D::Error::custom("invalid server"))
        }
    }
}

#[cfg(feature = "arbitrary")]
mod arb {
    use super::*;
    use arbitrary::{Arbitrary, Result, Unstructured};

    impl<'a> Arbitrary<'a> for TransportHost {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            const LABEL: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-.";
            Ok(match u.int_in_range(0..=3u8)? {
                0 => TransportHost::Ipv4(u.arbitrary()?),
                1 => {
                    // IPv4-mapped and -compatible addresses are shown dotted, which the
                    // reference cannot parse back; keep to addresses that round-trip
                    let mut a: [u8; 16] = u.arbitrary()?;
                    a[0] |= 0x20;
                    TransportHost::Ipv6(a)
                }
                2 => {
                    let n = u.int_in_range(0..=56usize)?;
                    let mut s = String::new();
                    for _ in 0..n {
                        s.push(char::from(*u.choose(&LABEL[..36])?));
                    }
                    s.push_str(".onion");
                    TransportHost::Onion(s)
                }
                _ => {
                    // starts with a letter that is not a hex digit, never contains "onion"
                    let n = u.int_in_range(0..=40usize)?;
                    let mut s = String::from("x");
                    for _ in 0..n {
                        s.push(char::from(*u.choose(LABEL)?));
                    }
                    if s.contains("onion") {
                        s = String::from("xn.example");
                    }
                    TransportHost::Domain(s)
                }
            })
        }
    }

    impl<'a> Arbitrary<'a> for KeyHash {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let n = u.int_in_range(1..=64usize)?;
            Ok(KeyHash::from_short(u.bytes(n)?))
        }
    }

    impl<'a, S: Scheme> Arbitrary<'a> for ProtocolServer<S> {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let n = u.int_in_range(1..=4usize)?;
            let hosts = (0..n)
                .map(|_| TransportHost::arbitrary(u))
                .collect::<Result<Vec<_>>>()?;
            let port = if u.arbitrary()? {
                String::new()
            } else {
                alloc::format!("{}", u.int_in_range(0..=65535u32)?)
            };
            Ok(
                ProtocolServer::new(hosts, port, KeyHash::arbitrary(u)?).unwrap_or_else(|| {
                    ProtocolServer::new(
                        alloc::vec![TransportHost::Ipv4([1, 2, 3, 4])],
                        "",
                        KeyHash::from_short(&[1]),
                    )
                    .unwrap()
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "serde")]
    #[test]
    fn json_reads_back_dotted_ipv6() {
        for text in ["::ffff:10.0.0.1", "::1.2.3.4"] {
            let a: core::net::Ipv6Addr = text.parse().unwrap();
            let h = TransportHost::Ipv6(a.octets());
            let j = serde_json::to_value(&h).unwrap();
            assert_eq!(j, serde_json::json!(text));
            assert_eq!(serde_json::from_value::<TransportHost>(j).unwrap(), h);
        }
        assert!(serde_json::from_value::<TransportHost>(serde_json::json!("1.2.3.4.5")).is_err());
    }

    #[test]
    fn rejects_text_host_over_255_bytes() {
        // found by fuzzing: a longer host parsed from text wrapped its length byte in binary
        assert_eq!(TransportHost::parse(&[b'a'; 256]).unwrap_err().kind, DecodeErrorKind::BadLength);
        assert!(TransportHost::parse(&[b'a'; 255]).is_ok());
        let mut t = b"smp://AQ==@".to_vec();
        t.extend_from_slice(&[b'a'; 256]);
        assert!(SmpServer::parse_text(&t).is_err());
    }

    use super::*;
    use alloc::vec;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn text(host: &TransportHost) -> String {
        latin1_to_string(&host.to_text())
    }

    #[test]
    fn parses_hosts_like_the_reference() {
        let p = |s: &str| TransportHost::parse(s.as_bytes());
        assert_eq!(p("1.2.3.4").unwrap(), TransportHost::Ipv4([1, 2, 3, 4]));
        assert_eq!(p("1.2.3.256").unwrap(), TransportHost::Ipv4([1, 2, 3, 0]));
        assert_eq!(
            p("010.001.0.1").unwrap(),
            TransportHost::Ipv4([10, 1, 0, 1])
        );
        assert_eq!(p("1.2.3").unwrap(), TransportHost::Domain("1.2.3".into()));
        assert_eq!(
            p("256.1.1.1").unwrap(),
            TransportHost::Domain("256.1.1.1".into())
        );
        assert_eq!(
            p("1.2.3.4x").unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            p("abc.onion").unwrap(),
            TransportHost::Onion("abc.onion".into())
        );
        assert!(p("ABC.onion").is_err());
        assert!(p("abc.onion.com").is_err());
        assert!(p("").is_err());
        assert_eq!(
            p("smp.example.com").unwrap(),
            TransportHost::Domain("smp.example.com".into())
        );
        assert_eq!(p("abc").unwrap(), TransportHost::Domain("abc".into()));
        let mut lo = [0u8; 16];
        lo[15] = 1;
        assert_eq!(p("::1").unwrap(), TransportHost::Ipv6(lo));
        assert_eq!(p("[::1]").unwrap(), TransportHost::Ipv6(lo));
        assert_eq!(p("[ ::1 ]").unwrap(), TransportHost::Ipv6(lo));
        // appar's alternatives continue after a consumed ':' (so this is 1:2:...:8)
        assert_eq!(text(&p(":1:2:3:4:5:6:7:8").unwrap()), "1:2:3:4:5:6:7:8");
        assert_eq!(text(&p("::12345").unwrap()), "::");
        assert!(p("1:2:3:4:5:6:7:8:9").is_err());
        assert_eq!(text(&p("[::ffff:1.2.3.4]").unwrap()), "::ffff:1.2.3.4");
        assert_eq!(
            text(&p("[2001:db8::192.0.2.1]").unwrap()),
            "2001:db8::c000:201"
        );
        assert_eq!(text(&p("[::1.2.3.4]").unwrap()), "::1.2.3.4");
    }

    #[test]
    fn shows_ipv6_like_iproute() {
        let p = |s: &str| text(&TransportHost::parse(s.as_bytes()).unwrap());
        assert_eq!(p("2001:0DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(p("1:0:2:0:3:0:4:0"), "1:0:2:0:3:0:4:0");
        assert_eq!(p("0:0:0:0:0:0:0:0"), "::");
        assert_eq!(p("1::"), "1::");
        assert_eq!(p("0:0:0:0:0:0:0:1"), "::1");
        assert_eq!(p("::ffff"), "::ffff");
    }

    #[test]
    fn host_binary_is_short_text() {
        let host = TransportHost::Domain("smp.example.com".into());
        let b = host.to_bytes();
        assert_eq!(b[0] as usize, b.len() - 1);
        assert_eq!(TransportHost::decode_exact(&b).unwrap(), host);
        assert!(TransportHost::decode_exact(b"\x081.2.3.4x").is_err());
    }

    #[test]
    fn decode_server_text_vectors() {
        let kh = h("991c6d7a4c975193021b6484e671e875ff9da755acb409755d9fef3853f4f286");
        // smp_server/str/port_leading_zero
        let s = SmpServer::parse_text(&h("736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40736d702e6578616d706c652e636f6d3a3035323233")).unwrap();
        assert_eq!(
            s.hosts(),
            &[TransportHost::Domain("smp.example.com".into())]
        );
        assert_eq!(s.port(), "5223");
        assert_eq!(s.key_hash().as_bytes(), &kh[..]);
        assert_eq!(s.to_text(), h("736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40736d702e6578616d706c652e636f6d3a35323233"));
        // smp_server/str/ipv4_last_octet_wraps
        let s = SmpServer::parse_text(&h("736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40312e322e332e323536")).unwrap();
        assert_eq!(s.hosts(), &[TransportHost::Ipv4([1, 2, 3, 0])]);
        assert_eq!(s.port(), "");
        assert_eq!(s.to_text(), h("736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40312e322e332e30"));
        // smp_server/str/ipv4_first_octet_256_is_domain
        let v = h("736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d403235362e312e312e31");
        let s = SmpServer::parse_text(&v).unwrap();
        assert_eq!(s.hosts(), &[TransportHost::Domain("256.1.1.1".into())]);
        assert_eq!(s.to_text(), v);
        // smp_server/str/onion/1
        let v = h("736d703a2f2f30736a4a4450414a636d5436597230665233674b784b424b6631427a38766c36734375316e7a55667845773d406265636378347966787862767968717970616176656d71757279746c36686f7a723437776663377575656361636a716476777077327869642e6f6e696f6e");
        let s = SmpServer::parse_text(&v).unwrap();
        assert_eq!(
            s.hosts(),
            &[TransportHost::Onion(
                "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion".into()
            )]
        );
        assert_eq!(
            s.key_hash().as_bytes(),
            &h("d2c8c90cf0097264fa62bd1f47780ac4a04a7f5073f2f97ab02bb59f351fc44c")[..]
        );
        assert_eq!(s.to_text(), v);
        // smp_server/str/preset_smp8/1, domain/1, no_port
        for v in [
            "736d703a2f2f506174386b52755a7361485379644a584f754f455666305f626d41504e4e526947684a41346550693772413d40736d70382e73696d706c65782e696d",
            "736d703a2f2f61594b444c5574796f2d5064575644464777715a76596d4f4e5655463364416b4571645f434f7a535a31453d40736d702e6578616d706c652e636f6d",
            "736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40736d702e6578616d706c652e636f6d",
        ] {
            let s = SmpServer::parse_text(&h(v)).unwrap();
            assert_eq!(s.to_text(), h(v));
        }
    }

    #[test]
    fn rejects_invalid_server_text() {
        // smp_server/str/invalid/ntf_scheme
        let v = h("6e74663a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d406e74662e6578616d706c652e636f6d");
        assert!(SmpServer::parse_text(&v).is_err());
        assert!(NtfServer::parse_text(&v).is_ok());
        // smp_server/str/invalid/empty
        assert!(SmpServer::parse_text(b"").is_err());
        assert!(SmpServer::parse_text(b"smp://AAAA:pass@host").is_err());
        assert!(SmpServer::parse_text(b"xftp://AAAA@host").is_err());
        assert!(SmpServer::parse_text(b"smp://AAAA@host,").is_err());
        assert!(SmpServer::parse_text(b"smp://AAAA@host:").is_err());
        assert!(SmpServer::parse_text(b"smp://@host").is_err());
        let s = SmpServer::parse_text(b"smp://AAAA@a.com,1.2.3.4,[::1]:443").unwrap();
        assert_eq!(s.hosts().len(), 3);
        assert_eq!(s.to_text(), b"smp://AAAA@a.com,1.2.3.4,::1:443");
        // the unbracketed IPv6 form swallows the port, as in the reference
        let s = SmpServer::parse_text(b"smp://AAAA@::1:443").unwrap();
        assert_eq!(s.port(), "");
    }

    #[test]
    fn adds_preset_onion_hosts() {
        let kh = KeyHash::new(vec![1]).unwrap();
        let s = SmpServer::new(
            vec![TransportHost::Domain("smp8.simplex.im".into())],
            "",
            kh.clone(),
        )
        .unwrap();
        let s = s.with_extra_preset_hosts();
        assert_eq!(
            s.hosts(),
            &[
                TransportHost::Domain("smp8.simplex.im".into()),
                TransportHost::Onion(
                    "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion".into()
                )
            ]
        );
        assert_eq!(s.clone().with_extra_preset_hosts(), s);
        let o = SmpServer::new(
            vec![TransportHost::Domain("smp.example.com".into())],
            "",
            kh,
        )
        .unwrap();
        assert_eq!(o.clone().with_extra_preset_hosts(), o);
    }

    #[test]
    fn decode_snew_server_parts() {
        // the server inside ntf/command/SNEW/host_ipv4_leading_zero (hex and canonical_hex)
        let kh = "203132333435363738393031323334353637383930313233343536373839303132";
        let b = h(&alloc::format!("010b3031302e3030312e302e310435323233{kh}"));
        let s = SmpServer::decode_exact(&b).unwrap();
        assert_eq!(s.hosts(), &[TransportHost::Ipv4([10, 1, 0, 1])]);
        assert_eq!(s.port(), "5223");
        assert_eq!(
            s.to_bytes(),
            h(&alloc::format!("010831302e312e302e310435323233{kh}"))
        );
        // ntf/command/SNEW/host_ipv4_like_domain
        let b = h(&alloc::format!("0105312e322e330435323233{kh}"));
        let s = SmpServer::decode_exact(&b).unwrap();
        assert_eq!(s.hosts(), &[TransportHost::Domain("1.2.3".into())]);
        assert_eq!(s.to_bytes(), b);
        // ntf/command/SNEW/ipv6/x25519/1
        let b = h("010b323030313a6462383a3a3100205692f1552a7899c61a84b419ad1e5a6aa8407ed113026fe4f7ad3e51b0f12bc1");
        let s = SmpServer::decode_exact(&b).unwrap();
        assert_eq!(text(&s.hosts()[0]), "2001:db8::1");
        assert_eq!(s.to_bytes(), b);
    }

    #[test]
    fn server_binary_round_trip() {
        let s = SmpServer::new(
            vec![
                TransportHost::Domain("smp.example.com".into()),
                TransportHost::Ipv4([1, 2, 3, 4]),
            ],
            "5223",
            KeyHash::new(vec![1, 2, 3]).unwrap(),
        )
        .unwrap();
        let b = s.to_bytes();
        assert_eq!(
            b,
            b"\x02\x0fsmp.example.com\x071.2.3.4\x045223\x03\x01\x02\x03"
        );
        assert_eq!(SmpServer::decode_exact(&b).unwrap(), s);
        assert_eq!(
            SmpServer::decode_exact(b"\x00\x00\x00").unwrap_err().kind,
            DecodeErrorKind::EmptyList
        );
        assert!(SmpServer::new(vec![], "", KeyHash::new(vec![]).unwrap()).is_none());
    }

    #[test]
    fn inline_and_spilled_parts_behave_alike() {
        // a Latin-1 port (one char per byte, two UTF-8 bytes above 0x7f) and one longer than
        // the inline buffer: both decode to the reference's chars and encode back
        for port in [&b"\xe9\xff1"[..], &[b'7'; 40][..], &[0xe9; 255][..]] {
            let mut b = b"\x01\x071.2.3.4".to_vec();
            put_short(&mut b, port);
            b.extend_from_slice(b"\x01\x09");
            let s = SmpServer::decode_exact(&b).unwrap();
            assert_eq!(s.port(), latin1_to_string(port));
            assert_eq!(s.to_bytes(), b);
            let t = SmpServer::new(s.hosts().to_vec(), s.port(), s.key_hash().clone()).unwrap();
            assert_eq!(t, s);
        }
        // hosts beyond the inline two, and a key hash beyond the inline 32 bytes
        let hosts: Vec<_> = (0..5u8)
            .map(|i| TransportHost::Ipv4([10, 0, 0, i]))
            .collect();
        let kh = KeyHash::new(vec![7; 40]).unwrap();
        let s = SmpServer::new(hosts.clone(), "443", kh).unwrap();
        assert_eq!(s.hosts(), &hosts[..]);
        assert_eq!(SmpServer::decode_exact(&s.to_bytes()).unwrap(), s);
        // order and equality by content, whatever the storage
        let short = KeyHash::new(vec![1; 32]).unwrap();
        let long = KeyHash::new(vec![1; 33]).unwrap();
        assert!(short < long);
        assert_eq!(KeyHash::from([1; 32]), short);
        assert_eq!(
            KeyHash::new(Vec::with_capacity(100)).unwrap().as_bytes(),
            &[] as &[u8]
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn port_hashes_as_the_string_it_replaces() {
        use core::hash::BuildHasher;
        let state = std::hash::RandomState::new();
        for port in ["", "443", "\u{e9}\u{ff}"] {
            assert_eq!(
                state.hash_one(PortText::new(port)),
                state.hash_one(alloc::string::String::from(port))
            );
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn server_json() {
        let s = SmpServer::parse_text(
            b"smp://mRxtekyXUZMCG2SE5nHodf-dp1WstAl1XZ_vOFP08oY=@smp.example.com:5223",
        )
        .unwrap();
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"hosts": ["smp.example.com"], "port": "5223", "key_hash": "991c6d7a4c975193021b6484e671e875ff9da755acb409755d9fef3853f4f286"})
        );
        assert_eq!(serde_json::from_value::<SmpServer>(j).unwrap(), s);
    }

    #[cfg(feature = "arbitrary")]
    mod props {
        use super::*;
        use arbitrary::{Arbitrary, Unstructured};
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn server_round_trips(data in proptest::collection::vec(any::<u8>(), 0..512)) {
                let mut u = Unstructured::new(&data);
                if let Ok(s) = SmpServer::arbitrary(&mut u) {
                    prop_assert_eq!(SmpServer::decode_exact(&s.to_bytes()).unwrap(), s.clone());
                    // an unbracketed IPv6 text swallows a following port, as in the reference
                    let swallowed = !s.port().is_empty()
                        && matches!(s.hosts().last(), Some(TransportHost::Ipv6(_)));
                    if !swallowed {
                        prop_assert_eq!(SmpServer::parse_text(&s.to_text()).unwrap(), s);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn host_parse_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let _ = TransportHost::parse(&data);
            let _ = SmpServer::parse_text(&data);
            let _ = SmpServer::decode_exact(&data);
        }

        #[test]
        fn ipv6_round_trips(a in proptest::prelude::any::<[u8; 16]>()) {
            let mut a = a;
            a[0] |= 0x20;
            let host = TransportHost::Ipv6(a);
            proptest::prop_assert_eq!(TransportHost::parse(&host.to_text()).unwrap(), host);
        }
    }
}
