//! Lines built field by field from the reference's `StrEncoding` instances (cited per test),
//! decoded, and encoded back byte for byte.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use smp_proto::crypto::x25519_public;
use smp_proto::text::base64url_encode as b64;

use super::*;

/// X.509 SubjectPublicKeyInfo DER prefixes (RFC 8410), as the reference's `encodePubKey`.
const ED25519_SPKI: &str = "302a300506032b6570032100";
const X25519_SPKI: &str = "302a300506032b656e032100";
/// PKCS#8 DER prefixes, as the reference's `encodePrivKey`.
const ED25519_PKCS8: &str = "302e020100300506032b657004220420";
const X25519_PKCS8: &str = "302e020100300506032b656e04220420";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn der(prefix: &str, key: &[u8]) -> String {
    let mut v = unhex(prefix);
    v.extend_from_slice(key);
    b64(&v)
}

fn id(n: u8) -> Vec<u8> {
    alloc::vec![n; 24]
}

const KH: [u8; 32] = [7; 32];

/// `strEncode NtfTknRec` (Store/Types.hs): `B.unwords` of the named fields, `dhKeys` the pair
/// `(C.publicKey pk, pk)` (a tuple: two words), `cron` a `Word16` in decimal, then
/// ` updatedAt=` and the `SystemDate` seconds when present.
fn tcreate_line(status: &str, updated: Option<i64>) -> String {
    let dh_priv = [3u8; 32];
    let mut s = format!(
        "TCREATE tknId={} token=apns_prod 0a1b2c tokenStatus={status} verifyKey={} dhKeys={} {} dhSecret={} regCode={} cron=15",
        b64(&id(1)),
        der(ED25519_SPKI, &[2; 32]),
        der(X25519_SPKI, &x25519_public(&dh_priv)),
        der(X25519_PKCS8, &dh_priv),
        b64(&[4; 32]),
        b64(&[5; 32]),
    );
    if let Some(t) = updated {
        s.push_str(&format!(" updatedAt={t}"));
    }
    s
}

/// `strEncode NtfSubRec`: `smpQueue` is `strEncode SMPQueueNtf` (server, `/`, notifier id),
/// `serviceAssoc` a `Bool` (`T`/`F`, the `Encoding Bool` instance).
fn screate_line(status: &str, assoc: &str) -> String {
    format!(
        "SCREATE subId={} smpQueue=smp://{}@smp.example.com,10.0.0.1:5223/{} notifierKey={} tknId={} subStatus={status} serviceAssoc={assoc}",
        b64(&id(9)),
        b64(&KH),
        b64(&id(8)),
        der(ED25519_PKCS8, &[6; 32]),
        b64(&id(1)),
    )
}

fn round_trip(line: &str) -> StoreLogRecord {
    let rec = StoreLogRecord::decode(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e:?}"));
    assert_eq!(String::from_utf8(rec.to_bytes()).unwrap(), line);
    rec
}

#[test]
fn tcreate_round_trips_with_and_without_updated_at() {
    let rec = round_trip(&tcreate_line("ACTIVE", Some(1_733_443_200)));
    let StoreLogRecord::CreateToken(t) = rec else { panic!() };
    assert_eq!(t.id.as_bytes(), id(1));
    assert_eq!(t.token.apns_token().unwrap(), b"0a1b2c");
    assert_eq!(t.status, NtfTknStatus::Active);
    assert_eq!(t.dh_private, [3; 32]);
    assert_eq!(t.dh_secret, [4; 32]);
    assert_eq!(t.reg_code.as_bytes(), [5; 32]);
    assert_eq!(t.cron_interval, 15);
    assert_eq!(t.updated_at, Some(1_733_443_200));
    round_trip(&tcreate_line("INVALID,EXPIRED", None));
    round_trip(&tcreate_line("REGISTERED", Some(-86400)));
}

#[test]
fn tcreate_dh_public_key_is_read_but_derived_on_encode() {
    // `(_ :: C.PublicKeyX25519, tknDhPrivKey) <- "dhKeys=" *> strP_`: any X25519 key reads
    let good = tcreate_line("ACTIVE", None);
    let other = der(X25519_SPKI, &[9; 32]);
    let real = der(X25519_SPKI, &x25519_public(&[3; 32]));
    let line = good.replace(&real, &other);
    let rec = StoreLogRecord::decode(line.as_bytes()).unwrap();
    assert_eq!(rec.to_bytes(), good.as_bytes());
    // but it must be an X25519 key
    let ed = der(ED25519_SPKI, &[9; 32]);
    let bad = good.replace(&real, &ed);
    assert_eq!(StoreLogRecord::decode(bad.as_bytes()).unwrap_err().kind, DecodeErrorKind::BadKey);
}

#[test]
fn screate_round_trips_and_expands_preset_hosts() {
    let rec = round_trip(&screate_line("ACTIVE", "T"));
    let StoreLogRecord::CreateSubscription(s) = rec else { panic!() };
    assert_eq!(s.queue.server.port(), "5223");
    assert_eq!(s.queue.notifier_id(), id(8));
    assert!(s.service_assoc);
    assert_eq!(s.status, NtfSubStatus::Active);
    // `serviceAssoc` is optional on input (`fromMaybe False <$> optional`), always written
    let old = screate_line("NEW", "F").replace(" serviceAssoc=F", "");
    let rec = StoreLogRecord::decode(old.as_bytes()).unwrap();
    assert_eq!(rec.to_bytes(), screate_line("NEW", "F").as_bytes());
    // `SMPQueueNtf`'s `strP` applies `updateSMPServerHosts`
    let preset = screate_line("NEW", "F").replace("smp.example.com,10.0.0.1:5223", "smp8.simplex.im");
    let StoreLogRecord::CreateSubscription(s) = StoreLogRecord::decode(preset.as_bytes()).unwrap() else { panic!() };
    assert_eq!(s.queue.server.hosts().len(), 2);
}

#[test]
fn err_status_takes_the_rest_of_the_line() {
    // `"ERR" -> NSErr <$> (A.space *> A.takeByteString)`: ` serviceAssoc=T` becomes error text
    let line = screate_line("ERR NETWORK", "T");
    let StoreLogRecord::CreateSubscription(s) = StoreLogRecord::decode(line.as_bytes()).unwrap() else { panic!() };
    assert_eq!(s.status, NtfSubStatus::Err(b"NETWORK serviceAssoc=T".to_vec()));
    assert!(!s.service_assoc);
    assert_eq!(
        String::from_utf8(StoreLogRecord::CreateSubscription(s).to_bytes()).unwrap(),
        format!("{line} serviceAssoc=F")
    );
    let sid = b64(&id(9));
    let l = format!("SSTATUS {sid} ERR x service=T");
    let rec = StoreLogRecord::decode(l.as_bytes()).unwrap();
    assert_eq!(rec, StoreLogRecord::SubscriptionStatus(NtfEntityId::new(id(9)).unwrap(), NtfSubStatus::Err(b"x service=T".to_vec()), false));
}

#[test]
fn short_records_round_trip() {
    let t = b64(&id(1));
    let s = b64(&id(9));
    // `strEncode (Str "TSTATUS", tknId, tknStatus)` etc.: tuples are `B.unwords`
    for line in [
        format!("TSTATUS {t} CONFIRMED"),
        format!("TSTATUS {t} INVALID"),
        format!("TSTATUS {t} INVALID,TOPIC"),
        format!("TUPDATE {t} apns_dev 00ff {}", b64(&[5; 32])),
        format!("TUPDATE {t} apns_null test_ntf_token {}", b64(&[5; 32])),
        format!("TCRON {t} 0"),
        format!("TCRON {t} 65535"),
        format!("TDELETE {t}"),
        format!("TTIME {t} 1733443200"),
        format!("SSTATUS {s} ACTIVE"),
        format!("SSTATUS {s} INACTIVE service=T"),
        format!("SSTATUS {s} ERR AUTH"),
        format!("SDELETE {s}"),
        format!("SERVICE smp://{}@smp.example.com service={}", b64(&KH), b64(&id(3))),
        format!("SERVICE smp://{}@smp.example.com:443 service=off", b64(&KH)),
    ] {
        round_trip(&line);
    }
    // `SSTATUS ... service=F` reads (optional field) but is not written
    let l = format!("SSTATUS {s} ACTIVE service=F");
    assert_eq!(StoreLogRecord::decode(l.as_bytes()).unwrap().to_bytes(), format!("SSTATUS {s} ACTIVE").as_bytes());
    // Word16 decimal wraps as attoparsec's `decimal` at Word16
    let l = format!("TCRON {t} 65536");
    assert_eq!(StoreLogRecord::decode(l.as_bytes()).unwrap(), StoreLogRecord::TokenCron(NtfEntityId::new(id(1)).unwrap(), 0));
}

#[test]
fn service_off_prefix_is_committed() {
    // `"off" $> Nothing <|> strP`: attoparsec takes `off`, then the line must end
    let l = format!("SERVICE smp://{}@h.example service=offA", b64(&KH));
    assert_eq!(StoreLogRecord::decode(l.as_bytes()).unwrap_err().kind, DecodeErrorKind::TrailingBytes);
}

#[test]
fn corrupt_lines_are_errors() {
    let t = b64(&id(1));
    for line in [
        String::new(),
        "TCREATE".into(),
        "XCREATE abc".into(),
        format!("TSTATUS {t} BOGUS"),
        format!("TSTATUS {t}"),
        format!("TDELETE {t} "),
        format!("TDELETE {t}\r"),
        format!("TCRON {t} -1"),
        format!("TUPDATE {t} apns_dev 0f0 {}", b64(&[5; 32])),
        format!("SSTATUS {t} ACTIVE service=X"),
        tcreate_line("ACTIVE", None).replace("dhSecret=", "dhSecret=AA"),
        tcreate_line("ACTIVE", None).replace(" cron=15", ""),
        tcreate_line("ACTIVE", None) + " extra",
        screate_line("ACTIVE", "T").replace("smp://", "ntf://"),
        screate_line("ACTIVE", "T").replace(&der(ED25519_PKCS8, &[6; 32]), &der(X25519_SPKI, &[6; 32])),
    ] {
        assert!(StoreLogRecord::decode(line.as_bytes()).is_err(), "{line:?}");
    }
}

#[test]
fn every_prefix_of_a_line_fails_without_panic() {
    for line in [tcreate_line("ACTIVE", Some(5)), screate_line("END", "T")] {
        for n in 0..line.len() {
            let _ = StoreLogRecord::decode(&line.as_bytes()[..n]);
        }
    }
}

/// `strEncode (TNMRv1 tknId ntf) = strEncode (Str "v1", tknId, ntf)` (Server/Store.hs), and
/// `PNMessageData` is `strEncode (smpQueue, ntfTs, nmsgNonce, encNMsgMeta)`.
#[test]
fn last_notification_round_trips() {
    let line = format!(
        "v1 {} smp://{}@smp.example.com/{} 1733443210 {} {}",
        b64(&id(1)),
        b64(&KH),
        b64(&id(8)),
        b64(&[1; 24]),
        b64(b"encrypted metadata"),
    );
    let rec = LastNtfRecord::decode(line.as_bytes()).unwrap();
    assert_eq!(rec.token_id.as_bytes(), id(1));
    assert_eq!(rec.ntf.ts, 1_733_443_210);
    assert_eq!(rec.ntf.enc_meta(), b"encrypted metadata");
    assert_eq!(String::from_utf8(rec.to_bytes()).unwrap(), line);
    assert!(LastNtfRecord::decode(line.replace("v1 ", "v2 ").as_bytes()).is_err());
    assert!(LastNtfRecord::decode((line.clone() + " x").as_bytes()).is_err());
}

#[test]
fn lines_split_as_the_reference() {
    fn split(s: &[u8]) -> Vec<&[u8]> {
        lines(s).collect()
    }
    assert!(split(b"").is_empty());
    assert_eq!(split(b"\n"), [b"" as &[u8]]);
    assert_eq!(split(b"a\nb"), [b"a" as &[u8], b"b"]);
    assert_eq!(split(b"a\n\nb\n"), [b"a" as &[u8], b"", b"b"]);
    assert_eq!(split(b"a\r\n"), [b"a\r" as &[u8]]);
}

/// The fuzz target's check over the seed lines and every one-byte change of them.
#[cfg(feature = "fuzzing")]
#[test]
fn fuzz_check_holds_on_mutations_of_the_seed_lines() {
    let seeds = [
        tcreate_line("ACTIVE", Some(1)),
        tcreate_line("INVALID,BAD", None),
        screate_line("ERR NETWORK", "T"),
        screate_line("ACTIVE", "F"),
        format!("SERVICE smp://{}@h.example service={}", b64(&KH), b64(&id(3))),
        format!("SSTATUS {} ERR x service=T", b64(&id(9))),
    ];
    let alphabet = b" =,/:@-_01AZaz\r\n";
    for s in seeds {
        let s = s.into_bytes();
        crate::fuzzing::store_log_line(&s);
        for i in (0..s.len()).step_by(3) {
            for &c in alphabet {
                let mut m = s.clone();
                m[i] = c;
                crate::fuzzing::store_log_line(&m);
            }
        }
    }
}
