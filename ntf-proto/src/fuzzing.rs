//! Fuzz-target glue for the NTF codecs: one function per decoder entry point, each taking the
//! raw fuzzer input, so every target in `fuzz/fuzz_targets/` is three lines.
//!
//! The checks are those of [`smp_proto::fuzzing`]: no panic; a decoded value re-encodes to
//! bytes that decode to the same value, and the canonical form is a fixed point; canonical-only
//! inputs must come back byte for byte.
//!
//! Inputs that decode but may legitimately be non-canonical (not compared with the encoding):
//! - `ERR` payloads ([`smp_proto::fuzzing::error_may_be_non_canonical`]);
//! - `TKN INVALID,reason` below NTF v3 (the reason is dropped: a version-mapped value);
//! - `SNEW` whose SMP server has an IP host (IPv4 leading zeros, IPv6 spellings inside the
//!   host's short bytes) or a preset relay host (the decoder adds its onion host);
//! - hellos: bytes after the value are ignored;
//! - text forms of SMP queues and push message lists: as SMP server text, plus nonces of any
//!   length (cut or zero-padded to 24 bytes) and base64url with or without padding.
//!
//! Device token text has one form, so it must come back byte for byte.

use arbitrary::{Arbitrary, Unstructured};
use smp_proto::crypto::SignedKey;
use smp_proto::fuzzing::{
    binary_form_fits, check_fixed_point, error_is_lossy, error_may_be_non_canonical, exact,
    text_round_trip_breaks,
};
use smp_proto::keys::PublicKey;
use smp_proto::server::TransportHost;

use crate::command::{NewNtfSubscription, NewNtfSubscriptionRef, NtfCommand};
use crate::credentials::{check_command, check_response};
use crate::handshake::{NtfClientHello, NtfServerHello};
use crate::push::PnMessages;
use crate::queue::{SmpQueueNtf, PRESET_ONION_HOSTS};
use crate::response::NtfResponse;
use crate::store_log::{LastNtfRecord, StoreLogRecord};
use crate::subscription::NtfSubStatus;
use crate::token::{DeviceToken, NtfTknStatus};
use crate::version::{self, Version};
use crate::{Decode, DecodeResult, Encode, Reader};

/// The NTF version a fuzz input selects with its first byte: 1 to 3.
pub fn ntf_version(b: u8) -> Version {
    let span = version::CURRENT.0 - version::INITIAL.0 + 1;
    Version(version::INITIAL.0 + u16::from(b) % span)
}

fn split_version(data: &[u8]) -> Option<(Version, &[u8])> {
    let (&b, rest) = data.split_first()?;
    Some((ntf_version(b), rest))
}

/// Whether a decoded SMP queue's server may have come from a non-canonical binary form: an IP
/// host (its text inside the short bytes has several spellings) or a preset relay whose onion
/// host the decoder added.
fn queue_may_be_non_canonical(q: &SmpQueueNtf) -> bool {
    let hosts = q.server.hosts();
    let ip = hosts
        .iter()
        .any(|h| matches!(h, TransportHost::Ipv4(_) | TransportHost::Ipv6(_)));
    let preset = matches!(hosts, [TransportHost::Domain(d), TransportHost::Onion(o)]
        if PRESET_ONION_HOSTS.iter().any(|(h, on)| h == d && on == o));
    ip || preset
}

/// Whether the encoding of `r` at `v` maps it to another value.
fn response_mapped(r: &NtfResponse, v: Version) -> bool {
    match r {
        NtfResponse::Tkn(s) => s.for_version(v) != *s,
        NtfResponse::Err(e) => error_is_lossy(e),
        _ => false,
    }
}

/// NTF command (`ntf.command`): version byte, then the command part of a transmission. Also
/// checks that the borrowed `SNEW` view agrees with the owned decoder, errors included.
pub fn ntf_command(data: &[u8]) {
    let Some((v, bytes)) = split_version(data) else {
        return;
    };
    let decoded = NtfCommand::decode(bytes, v);
    match NewNtfSubscriptionRef::parse(bytes) {
        Ok(Some(s)) => assert_eq!(decoded, Ok(NtfCommand::Snew(s.to_owned())), "SNEW view"),
        Ok(None) => assert!(!matches!(decoded, Ok(NtfCommand::Snew(_))), "SNEW view"),
        Err(e) => assert_eq!(decoded, Err(e), "SNEW view error"),
    }
    let Ok(cmd) = decoded else {
        return;
    };
    for has_auth in [false, true] {
        let _ = check_command(&cmd, has_auth, bytes);
        let _ = check_command(&cmd, has_auth, &[]);
    }
    if let NtfCommand::Snew(NewNtfSubscription { queue, .. }) = &cmd {
        if !binary_form_fits(&queue.server) {
            // an IPv6 host that reads as IPv4-compatible is shown dotted, which the reference
            // cannot read back (see `binary_form_fits`): no round trip to check
            return;
        }
    }
    let e1 = check_fixed_point(&cmd, |c| c.to_bytes(v), |b| NtfCommand::decode(b, v), true);
    let aliased = matches!(&cmd, NtfCommand::Snew(NewNtfSubscription { queue, .. })
        if queue_may_be_non_canonical(queue));
    if !aliased {
        assert_eq!(e1, bytes, "NTF command input is not canonical");
    }
}

/// NTF response (`ntf.response`): version byte, then the command part of a server transmission.
pub fn ntf_response(data: &[u8]) {
    let Some((v, bytes)) = split_version(data) else {
        return;
    };
    let Ok(resp) = NtfResponse::decode(bytes, v) else {
        return;
    };
    let _ = check_response(&resp, bytes);
    let _ = check_response(&resp, &[]);
    let mapped = response_mapped(&resp, v);
    let e1 = check_fixed_point(
        &resp,
        |r| r.to_bytes(v),
        |b| NtfResponse::decode(b, v),
        !mapped,
    );
    let aliased = matches!(&resp, NtfResponse::Err(e) if error_may_be_non_canonical(e));
    if !mapped && !aliased {
        assert_eq!(e1, bytes, "NTF response input is not canonical");
    }
}

/// Decodes a prefix of `data` with a decoder that ignores trailing bytes and checks that the
/// canonical encoding is exactly the consumed prefix.
fn prefix_round_trip<T>(data: &[u8], parse: fn(&[u8]) -> DecodeResult<T>) -> Option<T>
where
    T: for<'a> Decode<'a> + Encode + PartialEq + core::fmt::Debug,
{
    let mut r = Reader::new(data);
    let decoded = T::decode(&mut r);
    let parsed = parse(data);
    let Ok(v) = decoded else {
        assert!(parsed.is_err(), "parse and decode disagree");
        return None;
    };
    assert_eq!(parsed.as_ref().ok(), Some(&v), "parse and decode disagree");
    let used = r.offset();
    let e1 = check_fixed_point(&v, Encode::to_bytes, parse, true);
    assert_eq!(e1, data[..used], "the consumed prefix is not canonical");
    Some(v)
}

/// NTF server hello (`ntf.server_hello`); trailing bytes are ignored. Also reads the signed key.
pub fn ntf_server_hello(data: &[u8]) {
    let Some(h) = prefix_round_trip(data, NtfServerHello::parse) else {
        return;
    };
    if let Some(k) = &h.signed_key {
        let _ = k.public_key();
        let _ = k.signature();
        if let Some(pk) = k.public_key() {
            let _ = k.verify(&pk);
        }
    }
}

/// NTF client hello (`ntf.client_hello`); trailing bytes are ignored.
pub fn ntf_client_hello(data: &[u8]) {
    let _ = prefix_round_trip(data, NtfClientHello::parse);
}

/// Device token text (`device_token.str`): an APNS token has one text form, so the input must
/// come back; a Web Push token's text may be non-canonical (base64url without padding, a port
/// with leading zeros) and must reach a fixed point. The binary form of the parsed token
/// round-trips too.
pub fn device_token_text(data: &[u8]) {
    let Ok(t) = DeviceToken::from_text(data) else {
        return;
    };
    let e1 = check_fixed_point(&t, DeviceToken::to_text, DeviceToken::from_text, true);
    if matches!(t, DeviceToken::Apns(_)) {
        assert_eq!(e1, data, "device token text is not canonical");
    }
    check_fixed_point(&t, Encode::to_bytes, exact::<DeviceToken>, true);
}

fn queue_text_breaks(q: &SmpQueueNtf) -> bool {
    // the reference's known text non-round-trips (see `text_round_trip_breaks`), and an empty
    // notifier id, whose base64url text is empty and cannot be parsed
    text_round_trip_breaks(&q.server) || q.notifier_id().is_empty()
}

/// SMP queue text (`smp_queue.str`); the text may be non-canonical. Also checks the binary form.
pub fn smp_queue_text(data: &[u8]) {
    let Ok(q) = SmpQueueNtf::from_text(data) else {
        return;
    };
    if binary_form_fits(&q.server) {
        // longer host texts do not fit the binary form (see `binary_form_fits`)
        check_fixed_point(&q, Encode::to_bytes, exact::<SmpQueueNtf>, true);
    }
    if !queue_text_breaks(&q) {
        check_fixed_point(&q, SmpQueueNtf::to_text, SmpQueueNtf::from_text, true);
    }
}

/// Push message list text (`pn.messages`); the text may be non-canonical.
pub fn pn_messages_text(data: &[u8]) {
    let Ok(m) = PnMessages::decode(data) else {
        return;
    };
    assert!(!m.messages().is_empty());
    if m.messages().iter().any(|d| queue_text_breaks(&d.queue)) {
        // a queue address the reference cannot read back from its own text
        return;
    }
    check_fixed_point(&m, PnMessages::to_bytes, PnMessages::decode, true);
}

/// Structure-aware NTF checks: a selector picks a type, `arbitrary` builds a value, and
/// `decode(encode(x))` must give `x` (or the canonical fixed point for version-mapped values).
pub fn ntf_typed(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = typed(&mut u);
}

fn arb_version(u: &mut Unstructured<'_>) -> arbitrary::Result<Version> {
    Ok(Version(
        u.int_in_range(version::INITIAL.0..=version::CURRENT.0)?,
    ))
}

fn typed(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    match u.int_in_range(0..=7u8)? {
        0 => {
            let v = arb_version(u)?;
            let c = NtfCommand::arbitrary(u)?;
            check_fixed_point(&c, |c| c.to_bytes(v), |b| NtfCommand::decode(b, v), true);
        }
        1 => {
            let v = arb_version(u)?;
            let r = NtfResponse::arbitrary(u)?;
            let mapped = response_mapped(&r, v);
            let e = check_fixed_point(
                &r,
                |r| r.to_bytes(v),
                |b| NtfResponse::decode(b, v),
                !mapped,
            );
            if let NtfResponse::Tkn(s) = r {
                let back = NtfResponse::decode(&e, v).expect("decodes");
                assert_eq!(back, NtfResponse::Tkn(s.for_version(v)));
            }
        }
        2 => {
            let h = NtfClientHello::arbitrary(u)?;
            check_fixed_point(&h, Encode::to_bytes, NtfClientHello::parse, true);
        }
        3 => {
            let t = DeviceToken::arbitrary(u)?;
            check_fixed_point(&t, Encode::to_bytes, exact::<DeviceToken>, true);
            let text_ok = match &t {
                DeviceToken::Apns(a) => {
                    let tok = a.token();
                    let hex = tok.len() % 2 == 0
                        && tok
                            .iter()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
                    hex || tok == DeviceToken::NULL_TEST_TOKEN
                }
                // a port with leading zeros or no digits has another text form
                DeviceToken::WebPush(w) => {
                    w.check_endpoint().is_ok()
                        && !w.provider().port().starts_with(b"0")
                }
            };
            if text_ok {
                // other tokens have no text form the parser accepts
                check_fixed_point(&t, DeviceToken::to_text, DeviceToken::from_text, true);
            }
        }
        4 => {
            let q = SmpQueueNtf::arbitrary(u)?;
            check_fixed_point(&q, Encode::to_bytes, exact::<SmpQueueNtf>, true);
            if !queue_text_breaks(&q) {
                check_fixed_point(&q, SmpQueueNtf::to_text, SmpQueueNtf::from_text, true);
            }
        }
        5 => {
            let m = PnMessages::arbitrary(u)?;
            if !m.messages().iter().any(|d| queue_text_breaks(&d.queue)) {
                check_fixed_point(&m, PnMessages::to_bytes, PnMessages::decode, true);
            }
        }
        6 => {
            let s = NtfTknStatus::arbitrary(u)?;
            check_fixed_point(&s, Encode::to_bytes, NtfTknStatus::from_text, true);
            let s = NtfSubStatus::arbitrary(u)?;
            check_fixed_point(&s, Encode::to_bytes, NtfSubStatus::from_text, true);
        }
        _ => {
            let n = u.int_in_range(0..=255usize)?;
            let session_id = u.bytes(n)?.to_vec();
            let range = smp_proto::version::VersionRange::arbitrary(u)?;
            let seed = <[u8; 32]>::arbitrary(u)?;
            let dh = <[u8; 32]>::arbitrary(u)?;
            // the signed key is sent exactly when the range reaches v2
            let signed_key = (range.max() >= version::AUTH_BATCH_CMDS)
                .then(|| SignedKey::sign_ed25519(&seed, &PublicKey::X25519(dh)));
            let h = NtfServerHello {
                version_range: range,
                session_id,
                signed_key,
            };
            check_fixed_point(&h, Encode::to_bytes, NtfServerHello::parse, true);
            if let Some(k) = &h.signed_key {
                let signer = PublicKey::Ed25519(smp_proto::crypto::ed25519_public(&seed));
                assert_eq!(k.verify_x25519(&signer), Ok(dh), "own signed key verifies");
            }
        }
    }
    Ok(())
}

/// Whether a store log record cannot come back from its own text (the reference's quirks,
/// see [`crate::store_log`]): an `ERR` subscription status followed by a written field, a
/// service id whose base64url starts with `off`, or a server address with a known text
/// non-round-trip.
fn store_log_breaks(r: &StoreLogRecord) -> bool {
    match r {
        StoreLogRecord::CreateSubscription(s) => {
            matches!(s.status, NtfSubStatus::Err(_)) || queue_text_breaks(&s.queue)
        }
        StoreLogRecord::SubscriptionStatus(_, NtfSubStatus::Err(_), true) => true,
        StoreLogRecord::SetService(srv, id) => {
            text_round_trip_breaks(srv)
                || id.as_ref().is_some_and(|id| {
                    smp_proto::text::base64url_encode(id.as_bytes()).starts_with("off")
                })
        }
        _ => false,
    }
}

/// A store log or last-notifications line (`store_log.line`, `last_ntf.line`): whatever
/// decodes encodes to a text that decodes to the same record and the same text.
pub fn store_log_line(data: &[u8]) {
    if let Ok(r) = StoreLogRecord::decode(data) {
        if !store_log_breaks(&r) {
            check_fixed_point(&r, StoreLogRecord::to_bytes, StoreLogRecord::decode, true);
        }
    }
    if let Ok(r) = LastNtfRecord::decode(data) {
        if !queue_text_breaks(&r.ntf.queue) {
            check_fixed_point(&r, LastNtfRecord::to_bytes, LastNtfRecord::decode, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::vec::Vec;

    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        entries
            .map(|e| std::fs::read(e.expect("dir entry").path()).expect("seed file"))
            .collect()
    }

    #[test]
    fn every_seed_passes_its_target() {
        type Target = (&'static str, fn(&[u8]));
        let targets: &[Target] = &[
            ("ntf_command", ntf_command),
            ("ntf_response", ntf_response),
            ("ntf_server_hello", ntf_server_hello),
            ("ntf_client_hello", ntf_client_hello),
            ("device_token_text", device_token_text),
            ("smp_queue_text", smp_queue_text),
            ("pn_messages_text", pn_messages_text),
            ("ntf_typed", ntf_typed),
        ];
        for (name, run) in targets {
            let s = seeds(name);
            assert!(!s.is_empty(), "no seeds for {name}");
            s.iter().for_each(|x| run(x));
        }
    }

    #[test]
    fn seeds_reach_the_decoders() {
        let ok = seeds("ntf_command")
            .iter()
            .filter(|s| NtfCommand::decode(&s[1..], ntf_version(s[0])).is_ok())
            .count();
        assert!(ok >= 5, "only {ok} command seeds decode");
        let ok = seeds("pn_messages_text")
            .iter()
            .filter(|s| PnMessages::decode(s).is_ok())
            .count();
        assert!(ok >= 2, "only {ok} push message seeds decode");
    }

    #[test]
    fn version_byte_covers_the_ntf_range() {
        assert_eq!(ntf_version(0), version::INITIAL);
        assert_eq!(ntf_version(2), version::CURRENT);
        assert!((0..=255).all(|b| version::SUPPORTED.contains(ntf_version(b))));
    }

    #[test]
    fn invalid_reason_below_v3_is_a_mapped_value() {
        let r = NtfResponse::decode(b"TKN INVALID,BAD", Version(1)).expect("decodes");
        assert!(response_mapped(&r, Version(1)));
        assert!(!response_mapped(&r, Version(3)));
        assert_eq!(r.to_bytes(Version(1)), b"TKN INVALID");
        // the glue accepts the mapping rather than failing on it
        ntf_response(b"\x00TKN INVALID,BAD");
    }

    #[test]
    fn preset_relay_queue_is_flagged_non_canonical() {
        let q = SmpQueueNtf::from_text(b"smp://AQ==@smp8.simplex.im/AQ==").expect("parses");
        assert_eq!(q.server.hosts().len(), 2, "the onion host is added");
        assert!(queue_may_be_non_canonical(&q));
        let q = SmpQueueNtf::from_text(b"smp://AQ==@example.com/AQ==").expect("parses");
        assert!(!queue_may_be_non_canonical(&q));
    }
}
