//! Borrowed views of server addresses: a host, and a server's hosts, port and key hash as
//! slices of the input.
//!
//! ```text
//! transport-host = short-bytes        ; the host's text form, parsed whole
//! server         = nonempty(transport-host) port:short-bytes key-hash
//! ```
//!
//! Decoding a view validates exactly as the owned decoders do but allocates nothing;
//! `to_owned` makes the owned value. The owned host decoders are [`TransportHostRef`]'s
//! followed by `to_owned`, so they share every error; the owned server decoder reads the
//! same fields in the same order in one pass (a test checks the two agree). Binary hosts that
//! are plain domain or onion names take a one-pass fast path ([`name_fast`]); anything else
//! goes through the reference's general host parser.

use core::marker::PhantomData;

use crate::coding::{Decode, Reader};
use crate::error::{DecodeErrorKind, DecodeResult};
use crate::server::{
    is_domain_stop, latin1_to_string, onion_label_len, parse_host_prefix, Hosts, KeyHash, PortText,
    ProtocolServer, Scheme, Smp, TransportHost, INLINE_HOSTS,
};

/// A server host borrowing its name from the input: the borrowed form of [`TransportHost`].
///
/// ```text
/// transport-host = short-bytes   ; its text form, parsed whole
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportHostRef<'a> {
    /// IPv4 address.
    Ipv4([u8; 4]),
    /// IPv6 address (16 bytes, network order).
    Ipv6([u8; 16]),
    /// Onion host name including the `.onion` suffix (lowercase ASCII letters and digits).
    Onion(&'a [u8]),
    /// Domain name bytes (Latin-1).
    Domain(&'a [u8]),
}

impl<'a> TransportHostRef<'a> {
    /// The owned host.
    #[inline]
    pub fn to_owned(&self) -> TransportHost {
        match *self {
            Self::Ipv4(a) => TransportHost::Ipv4(a),
            Self::Ipv6(a) => TransportHost::Ipv6(a),
            Self::Onion(s) => TransportHost::Onion(latin1_to_string(s)),
            Self::Domain(s) => TransportHost::Domain(latin1_to_string(s)),
        }
    }

    /// Reads one host in text form from the front of `r` (the reference's `strP`).
    ///
    /// # Errors
    /// `Truncated` at the end of input, `BadValue` when no alternative matches, `BadLength`
    /// for a host of more than 255 bytes (its binary form could not carry it).
    pub fn read_text(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let s = r.peek_rest();
        let Some((host, n)) = parse_host_prefix(s) else {
            let kind = if s.is_empty() {
                DecodeErrorKind::Truncated
            } else {
                DecodeErrorKind::BadValue
            };
            return Err(r.error(kind, "transport host"));
        };
        if n > 255 {
            return Err(r.error(
                DecodeErrorKind::BadLength,
                "transport host of at most 255 bytes",
            ));
        }
        r.take(n, "transport host")?;
        Ok(host)
    }

    /// Parses the whole of `s` as a host with the general parser only (no fast path); `r`
    /// gives offsets. The definition [`name_fast`] is checked against.
    fn parse_whole_general(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let h = Self::read_text(r)?;
        r.finish()?;
        Ok(h)
    }
}

impl<'a> Decode<'a> for TransportHostRef<'a> {
    /// Short bytes holding one whole host in text form.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let s = r.short_bytes("transport host")?;
        if let Some(h) = name_fast(s) {
            return Ok(h);
        }
        Self::parse_whole_general(&mut Reader::with_offset(s, at + 1))
    }
}

/// The whole of `s` as a domain or onion name when that is plainly what it is, in one pass
/// over the bytes; `None` sends `s` to the general parser, which also makes every error.
///
/// Why this agrees with the general parser when it answers:
/// - `label ".onion"` with a label of lowercase letters and digits: the label has no dot, so
///   the IPv4 alternative fails, and no `:` or `[`, so the IPv6 one fails; the onion
///   alternative then takes all of `s`.
/// - otherwise, a first byte that is not a digit rules out IPv4, and with no `:` (a stop byte)
///   and no leading `[` IPv6 fails; unless the leading label is followed by `.onion` (an onion
///   prefix, then trailing bytes), the domain alternative takes all of `s`, as it has no stop
///   byte and does not end in `.onion`.
pub(crate) fn name_fast(s: &[u8]) -> Option<TransportHostRef<'_>> {
    if s.is_empty() || s.len() > 255 {
        return None;
    }
    if let Some(label) = s.strip_suffix(b".onion") {
        // no early exit, so the check runs over whole vectors
        let ok = label
            .iter()
            .fold(true, |ok, &c| ok & is_onion_label_byte(c));
        return ok.then_some(TransportHostRef::Onion(s));
    }
    if s[0].is_ascii_digit() || s[0] == b'[' {
        return None;
    }
    // the stop bytes include ':', so this also excludes every IPv6 text
    if s.iter().fold(false, |any, &c| any | is_domain_stop(c)) {
        return None;
    }
    if s[onion_label_len(s)..].starts_with(b".onion") {
        return None;
    }
    Some(TransportHostRef::Domain(s))
}

/// A lowercase ASCII letter or a digit (branch-free, so loops over it vectorize).
const fn is_onion_label_byte(c: u8) -> bool {
    (c.wrapping_sub(b'a') < 26) | (c.wrapping_sub(b'0') < 10)
}

/// A server address in binary form borrowing from the input: the borrowed form of
/// [`ProtocolServer`] (the binary form does not carry the scheme; `S` says which it is).
///
/// ```text
/// server = nonempty(transport-host) port:short-bytes key-hash
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProtocolServerRef<'a, S: Scheme> {
    count: u8,
    hosts: &'a [u8],
    port: &'a [u8],
    key_hash: &'a [u8],
    scheme: PhantomData<S>,
}

/// A borrowed SMP relay address.
pub type SmpServerRef<'a> = ProtocolServerRef<'a, Smp>;

impl<'a, S: Scheme> ProtocolServerRef<'a, S> {
    /// Number of hosts (at least one).
    pub const fn host_count(&self) -> usize {
        self.count as usize
    }

    /// The hosts, in order.
    pub fn hosts(&self) -> impl Iterator<Item = TransportHostRef<'a>> + 'a {
        let mut r = Reader::new(self.hosts);
        // every host was validated when the server was decoded, so this reads them all
        core::iter::from_fn(move || TransportHostRef::decode(&mut r).ok())
    }

    /// The port bytes (Latin-1), empty when absent.
    pub const fn port(&self) -> &'a [u8] {
        self.port
    }

    /// The identity key hash.
    pub const fn key_hash(&self) -> &'a [u8] {
        self.key_hash
    }

    /// The owned server. Up to two hosts, the port and the key hash stay inline; a single
    /// host leaves room for the onion host that [`ProtocolServer::with_extra_preset_hosts`]
    /// may add.
    pub fn to_owned(&self) -> ProtocolServer<S> {
        let mut hosts = Hosts::new();
        if self.host_count() > INLINE_HOSTS {
            hosts.reserve_exact(self.host_count());
        }
        hosts.extend(self.hosts().map(|h| h.to_owned()));
        ProtocolServer::from_parts(
            hosts,
            PortText::from_latin1(self.port),
            KeyHash::from_short(self.key_hash),
        )
    }
}

impl<'a, S: Scheme> Decode<'a> for ProtocolServerRef<'a, S> {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        if r.peek() == Some(0) {
            return Err(r.error(DecodeErrorKind::EmptyList, "server hosts"));
        }
        let count = r.u8("server hosts")?;
        let start = r.peek_rest();
        for _ in 0..count {
            TransportHostRef::decode(r)?;
        }
        let hosts = &start[..start.len() - r.remaining()];
        let port = r.short_bytes("port")?;
        let key_hash = r.short_bytes("key hash")?;
        Ok(Self {
            count,
            hosts,
            port,
            key_hash,
            scheme: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::SmpServer;
    use crate::Encode;
    use proptest::prelude::*;

    /// The general parser's answer for a whole binary host.
    fn general(s: &[u8]) -> DecodeResult<TransportHostRef<'_>> {
        TransportHostRef::parse_whole_general(&mut Reader::with_offset(s, 1))
    }

    /// The decoder's answer (fast path first) for the same host, owned.
    fn decoded(s: &[u8]) -> DecodeResult<TransportHost> {
        let mut b = alloc::vec![s.len() as u8];
        b.extend_from_slice(s);
        TransportHostRef::decode_exact(&b).map(|h| h.to_owned())
    }

    #[test]
    fn fast_path_takes_plain_names() {
        let onion = b"beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion";
        assert_eq!(name_fast(onion), Some(TransportHostRef::Onion(onion)));
        assert_eq!(
            name_fast(b"smp8.simplex.im"),
            Some(TransportHostRef::Domain(b"smp8.simplex.im"))
        );
        assert_eq!(
            name_fast(b".onion"),
            Some(TransportHostRef::Onion(b".onion"))
        );
        // left to the general parser
        for s in [
            &b"1.2.3.4"[..],
            b"1.2.3",
            b"[::1]",
            b"abc::1",
            b"abc.onion.com",
            b"a-b.onion",
            b"",
            b"a b",
        ] {
            assert_eq!(name_fast(s), None, "{s:?}");
        }
        // and the general parser agrees where the fast path answered
        assert_eq!(general(onion), Ok(TransportHostRef::Onion(onion)));
        assert_eq!(
            general(b"smp8.simplex.im"),
            Ok(TransportHostRef::Domain(b"smp8.simplex.im"))
        );
    }

    #[test]
    fn errors_come_from_the_general_parser() {
        let err = |s: &[u8]| decoded(s).unwrap_err();
        // "abc.onion" is taken, then ".com" is left over (offset 1 + 9)
        let e = err(b"abc.onion.com");
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::TrailingBytes, 10));
        assert_eq!(err(b"").kind, DecodeErrorKind::Truncated);
        assert_eq!(err(b"A-B.onion").kind, DecodeErrorKind::BadValue);
        assert_eq!(err(b"1.2.3.4x").kind, DecodeErrorKind::TrailingBytes);
    }

    #[test]
    fn server_view_reads_back_the_hosts() {
        let s = SmpServer::new(
            alloc::vec![
                TransportHost::Domain("smp.example.com".into()),
                TransportHost::Ipv4([1, 2, 3, 4]),
                TransportHost::Ipv6([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            ],
            "5223",
            KeyHash::new(alloc::vec![1, 2, 3]).unwrap(),
        )
        .unwrap();
        let b = s.to_bytes();
        let v = SmpServerRef::decode_exact(&b).unwrap();
        assert_eq!(v.host_count(), 3);
        assert_eq!(v.port(), b"5223");
        assert_eq!(v.key_hash(), &[1, 2, 3]);
        assert_eq!(v.to_owned(), s);
        assert_eq!(v.hosts().count(), 3);
    }

    /// Host texts near the fast path's boundaries: names, onion suffixes, digits, colons and
    /// stop bytes, upper case, non-ASCII.
    fn host_text() -> impl Strategy<Value = alloc::vec::Vec<u8>> {
        let piece = prop_oneof![
            "[a-z0-9]{1,8}".prop_map(|s| s.into_bytes()),
            Just(b".onion".to_vec()),
            Just(b".".to_vec()),
            Just(b"onion".to_vec()),
            "[0-9]{1,4}".prop_map(|s| s.into_bytes()),
            "[:\\[\\]#,;/ A-F-]".prop_map(|s| s.into_bytes()),
            any::<u8>().prop_map(|b| alloc::vec![b]),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_general(s in host_text()) {
            prop_assume!(s.len() <= 255);
            if let Some(h) = name_fast(&s) {
                prop_assert_eq!(general(&s), Ok(h));
            }
            // the decoder (fast path first) gives the general parser's answer, error or not
            prop_assert_eq!(decoded(&s), general(&s).map(|h| h.to_owned()));
        }

        #[test]
        fn server_view_agrees_with_owned_decoder(b in prop::collection::vec(any::<u8>(), 0..80)) {
            let owned = SmpServer::decode_exact(&b);
            let view = SmpServerRef::decode_exact(&b).map(|s| s.to_owned());
            prop_assert_eq!(view, owned);
        }

        #[test]
        fn fast_path_agrees_on_any_bytes(s in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Some(h) = name_fast(&s) {
                prop_assert_eq!(general(&s), Ok(h));
            }
            prop_assert_eq!(decoded(&s), general(&s).map(|h| h.to_owned()));
        }
    }
}
