//! SMP server messages, the notification subset: what an SMP relay sends a notification server
//! (and the `NID` reply to a recipient's `NKEY`).
//!
//! ```text
//! broker-msg = "NID" SP notifier-id:short-bytes dh-key:x25519-public-key
//!            / "NMSG" SP nonce:24OCTET enc-meta:short-bytes
//!            / "END" / "ENDS" SP int64 / "DELD" / "OK" / "ERR" SP error-type / "PONG"
//!            / "SOKS" SP int64
//! ```
//!
//! Decoding is the same at every version; encoding depends on it: `DELD` is sent as `END`
//! below SMP v10, and `ERR BLOCKED` follows [`ErrorType::for_smp_version`].

use alloc::vec::Vec;

use crate::coding::{put_i64, put_short, Decode, Encode, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::error_type::{CommandError, ErrorType};
use crate::keys::X25519PublicKey;
use crate::version::{smp, Version};

/// Length of the crypto_box nonce in `NMSG`.
pub const NONCE_LEN: usize = 24;

/// An SMP server message of the notification subset.
///
/// ```text
/// broker-msg = "NID" SP short-bytes x25519-public-key / "NMSG" SP 24OCTET short-bytes / "END"
///            / "ENDS" SP int64 / "DELD" / "OK" / "ERR" SP error-type / "PONG" / "SOKS" SP int64
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "tag")
)]
pub enum BrokerMsg {
    /// Notifier credentials created (reply to `NKEY`).
    #[cfg_attr(feature = "serde", serde(rename = "NID"))]
    Nid {
        /// The notifier id (at most 255 bytes).
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        notifier_id: Vec<u8>,
        /// The relay's DH key for notification metadata.
        dh_key: X25519PublicKey,
    },
    /// A message notification.
    #[cfg_attr(feature = "serde", serde(rename = "NMSG"))]
    Nmsg {
        /// crypto_box nonce.
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_array"))]
        nonce: [u8; NONCE_LEN],
        /// Encrypted [`NMsgMeta`](crate::message::NMsgMeta) (at most 255 bytes).
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        enc_meta: Vec<u8>,
    },
    /// Subscription ended (another subscriber took over).
    #[cfg_attr(feature = "serde", serde(rename = "END"))]
    End,
    /// Service subscription ended for `count` queues.
    #[cfg_attr(feature = "serde", serde(rename = "ENDS"))]
    Ends {
        /// Number of queues.
        count: i64,
    },
    /// Queue deleted.
    #[cfg_attr(feature = "serde", serde(rename = "DELD"))]
    Deld,
    /// Success.
    #[cfg_attr(feature = "serde", serde(rename = "OK"))]
    Ok,
    /// Error.
    #[cfg_attr(feature = "serde", serde(rename = "ERR"))]
    Err {
        /// The error.
        error: ErrorType,
    },
    /// Reply to `PING`.
    #[cfg_attr(feature = "serde", serde(rename = "PONG"))]
    Pong,
    /// Service subscription succeeded for `count` queues.
    #[cfg_attr(feature = "serde", serde(rename = "SOKS"))]
    Soks {
        /// Number of queues.
        count: i64,
    },
}

/// A borrowed `NMSG` for the hot path: no allocation.
///
/// ```text
/// nmsg = "NMSG" SP nonce:24OCTET enc-meta:short-bytes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NmsgRef<'a> {
    /// crypto_box nonce.
    pub nonce: &'a [u8; NONCE_LEN],
    /// Encrypted metadata.
    pub enc_meta: &'a [u8],
}

impl<'a> NmsgRef<'a> {
    /// Parses the whole command part of a transmission as `NMSG`, borrowing from it.
    /// Returns `Ok(None)` when the tag is not `NMSG` (decode it with [`BrokerMsg::decode`]).
    ///
    /// # Errors
    /// `Truncated` or `TrailingBytes` for a malformed `NMSG`.
    pub fn parse(bytes: &'a [u8]) -> DecodeResult<Option<Self>> {
        let Some(rest) = bytes.strip_prefix(b"NMSG") else {
            return Ok(None);
        };
        if !rest.is_empty() && rest[0] != b' ' {
            return Ok(None);
        }
        let mut r = Reader::with_offset(rest, 4);
        r.space()?;
        let nonce: &[u8; NONCE_LEN] = r
            .take(NONCE_LEN, "nonce")?
            .try_into()
            .map_err(|_| r.error(DecodeErrorKind::Truncated, "nonce"))?;
        let enc_meta = r.short_bytes("encrypted metadata")?;
        r.finish()?;
        Ok(Some(Self { nonce, enc_meta }))
    }

    /// The owned message.
    pub fn to_owned(&self) -> BrokerMsg {
        BrokerMsg::Nmsg {
            nonce: *self.nonce,
            enc_meta: self.enc_meta.to_vec(),
        }
    }
}

impl BrokerMsg {
    /// The wire tag.
    pub const fn tag(&self) -> &'static str {
        match self {
            Self::Nid { .. } => "NID",
            Self::Nmsg { .. } => "NMSG",
            Self::End => "END",
            Self::Ends { .. } => "ENDS",
            Self::Deld => "DELD",
            Self::Ok => "OK",
            Self::Err { .. } => "ERR",
            Self::Pong => "PONG",
            Self::Soks { .. } => "SOKS",
        }
    }

    /// Appends the command part of a transmission as sent at SMP version `v`.
    pub fn encode(&self, v: Version, out: &mut Vec<u8>) {
        match self {
            Self::Deld if v < smp::DELETED_EVENT => {
                out.extend_from_slice(b"END");
                return;
            }
            _ => out.extend_from_slice(self.tag().as_bytes()),
        }
        match self {
            Self::Nid {
                notifier_id,
                dh_key,
            } => {
                out.push(b' ');
                put_short(out, notifier_id);
                dh_key.encode(out);
            }
            Self::Nmsg { nonce, enc_meta } => {
                out.push(b' ');
                out.extend_from_slice(nonce);
                put_short(out, enc_meta);
            }
            Self::Ends { count } | Self::Soks { count } => {
                out.push(b' ');
                put_i64(out, *count);
            }
            Self::Err { error } => {
                out.push(b' ');
                error.for_smp_version(v).encode(out);
            }
            _ => {}
        }
    }

    /// The encoding as a new vector.
    pub fn to_vec(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Decodes the whole command part of a transmission (the same at every version).
    ///
    /// # Errors
    /// `UnknownTag` for a tag outside the subset; `Truncated`, `BadKey`, `TrailingBytes` etc.
    /// for malformed fields.
    pub fn decode(bytes: &[u8], _v: Version) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let tag = r.take_till(|c| c == b' ');
        let msg = match tag {
            b"NID" => {
                r.space()?;
                let notifier_id = r.short_bytes("notifier id")?.to_vec();
                let dh_key = X25519PublicKey::decode(&mut r)?;
                Self::Nid {
                    notifier_id,
                    dh_key,
                }
            }
            b"NMSG" => {
                r.space()?;
                let nonce = r.array::<NONCE_LEN>("nonce")?;
                let enc_meta = r.short_bytes("encrypted metadata")?.to_vec();
                Self::Nmsg { nonce, enc_meta }
            }
            b"END" => Self::End,
            b"ENDS" => {
                r.space()?;
                Self::Ends {
                    count: r.i64("count")?,
                }
            }
            b"DELD" => Self::Deld,
            b"OK" => Self::Ok,
            b"ERR" => {
                r.space()?;
                Self::Err {
                    error: ErrorType::decode(&mut r)?,
                }
            }
            b"PONG" => Self::Pong,
            b"SOKS" => {
                r.space()?;
                Self::Soks {
                    count: r.i64("count")?,
                }
            }
            _ => {
                return Err(DecodeError::new(
                    DecodeErrorKind::UnknownTag,
                    0,
                    "SMP server message tag",
                ))
            }
        };
        r.finish()?;
        Ok(msg)
    }

    /// The client's credential rules for a received message (`checkCredentials`): `ERR` may
    /// carry an entity id or not, `PONG` must not (`CMD HAS_AUTH`), all others must
    /// (`CMD NO_ENTITY`).
    ///
    /// # Errors
    /// The error the client records instead of the message.
    pub fn check_credentials(&self, entity_id: &[u8]) -> Result<(), ErrorType> {
        match self {
            Self::Err { .. } => Ok(()),
            Self::Pong if !entity_id.is_empty() => Err(ErrorType::Cmd(CommandError::HasAuth)),
            Self::Pong => Ok(()),
            _ if entity_id.is_empty() => Err(ErrorType::Cmd(CommandError::NoEntity)),
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for BrokerMsg {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let short = |u: &mut arbitrary::Unstructured<'a>| -> arbitrary::Result<Vec<u8>> {
            let n = u.int_in_range(0..=255usize)?;
            Ok(u.bytes(n)?.to_vec())
        };
        Ok(match u.int_in_range(0..=8u8)? {
            0 => Self::Nid {
                notifier_id: short(u)?,
                dh_key: u.arbitrary()?,
            },
            1 => Self::Nmsg {
                nonce: u.arbitrary()?,
                enc_meta: short(u)?,
            },
            2 => Self::End,
            3 => Self::Ends {
                count: u.arbitrary()?,
            },
            4 => Self::Deld,
            5 => Self::Ok,
            6 => Self::Err {
                error: u.arbitrary()?,
            },
            7 => Self::Pong,
            _ => Self::Soks {
                count: u.arbitrary()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_type::{BlockingInfo, BlockingReason, ClientNotice};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const V: Version = smp::CURRENT;

    /// decode(hex) == value at `v`, encode(value) == canonical (or hex).
    fn check(v: u16, hex_in: &str, want: &BrokerMsg, canonical: Option<&str>) {
        let v = Version(v);
        let m = BrokerMsg::decode(&h(hex_in), v).unwrap();
        assert_eq!(&m, want);
        assert_eq!(m.to_vec(v), h(canonical.unwrap_or(hex_in)));
    }

    fn blocked_content() -> BrokerMsg {
        BrokerMsg::Err {
            error: ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Content,
                notice: Some(ClientNotice { ttl: Some(3600) }),
            }),
        }
    }

    #[test]
    fn decode_broker_vectors() {
        // smp/broker/DELD_input/v6, DELD/v18
        check(6, "44454c44", &BrokerMsg::Deld, Some("454e44"));
        check(18, "44454c44", &BrokerMsg::Deld, None);
        // smp/broker/ERR/BLOCKED_content_notice_input/v6, v11, v18
        let blocked = "45525220424c4f434b454420726561736f6e3d636f6e74656e742c6e6f746963653d7b2274746c223a333630307d";
        check(6, blocked, &blocked_content(), Some("4552522041555448"));
        check(11, blocked, &blocked_content(), Some("4552522041555448"));
        check(18, blocked, &blocked_content(), None);
        // below v18 the notice is dropped
        assert_eq!(
            blocked_content().to_vec(Version(12)),
            b"ERR BLOCKED reason=content"
        );
        // smp/broker/ERR/PROXY_BROKER_NETWORK_TLS_dropped
        let m = BrokerMsg::decode(
            &h("4552522050524f58592042524f4b4552204e4554574f524b20544c532003626164"),
            V,
        )
        .unwrap();
        let BrokerMsg::Err { error } = &m else {
            panic!("not ERR")
        };
        assert_eq!(
            error.to_tokens(),
            ["PROXY", "BROKER", "NETWORK", "TLS", "bad"]
        );
        assert_eq!(
            m.to_vec(V),
            h("4552522050524f58592042524f4b4552204e4554574f524b")
        );
        // smp/broker/NID/len24/1
        let nid = "4e49442018b5053fb08c69f3ebf6c190216e638af5390ed57965245a502c302a300506032b656e0321009159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218";
        let want = BrokerMsg::Nid {
            notifier_id: h("b5053fb08c69f3ebf6c190216e638af5390ed57965245a50"),
            dh_key: X25519PublicKey(
                h("9159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218")
                    .try_into()
                    .unwrap(),
            ),
        };
        check(18, nid, &want, None);
        // smp/broker/SOKS/1, SOKS/-9223372036854775808
        check(
            18,
            "534f4b53200000000000000001",
            &BrokerMsg::Soks { count: 1 },
            None,
        );
        check(
            18,
            "534f4b53208000000000000000",
            &BrokerMsg::Soks { count: i64::MIN },
            None,
        );
        // smp/broker/ERR/LARGE_MSG, CMD_SYNTAX, PROXY_PROTOCOL_STORE, PROXY_BROKER_TRANSPORT_SESSION
        for (hex_in, toks) in [
            ("455252204c415247455f4d5347", &["LARGE_MSG"][..]),
            ("45525220434d442053594e544158", &["CMD", "SYNTAX"][..]),
            (
                "4552522050524f58592050524f544f434f4c2053544f5245206e65737465642073746f7265",
                &["PROXY", "PROTOCOL", "STORE", "nested store"][..],
            ),
            (
                "4552522050524f58592042524f4b4552205452414e53504f52542053455353494f4e",
                &["PROXY", "BROKER", "TRANSPORT", "SESSION"][..],
            ),
        ] {
            let want = BrokerMsg::Err {
                error: ErrorType::from_tokens(toks).unwrap(),
            };
            check(18, hex_in, &want, None);
        }
        // smp/broker/ERR/BLOCKED_spam/v11: the value AUTH encodes as AUTH
        check(
            11,
            "4552522041555448",
            &BrokerMsg::Err {
                error: ErrorType::Auth,
            },
            None,
        );
        let spam = BrokerMsg::Err {
            error: ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Spam,
                notice: None,
            }),
        };
        assert_eq!(spam.to_vec(Version(11)), h("4552522041555448"));
        check(
            18,
            "454e4453200000000000000005",
            &BrokerMsg::Ends { count: 5 },
            None,
        );
        for (t, m) in [
            ("END", BrokerMsg::End),
            ("OK", BrokerMsg::Ok),
            ("PONG", BrokerMsg::Pong),
        ] {
            assert_eq!(BrokerMsg::decode(t.as_bytes(), V).unwrap(), m);
            assert_eq!(m.to_vec(Version(6)), t.as_bytes());
        }
    }

    #[test]
    fn rejects_bad_broker_msgs() {
        // smp/broker/NID/len24/1/trunc_59
        assert!(BrokerMsg::decode(&h("4e49442018b5053fb08c69f3ebf6c190216e638af5390ed57965245a502c302a300506032b656e0321009159608910eb57b4af84219575af4e1964"), V).is_err());
        // smp/broker/invalid/ENDS_missing
        assert!(BrokerMsg::decode(&h("454e4453"), V).is_err());
        // smp/broker/invalid/NID_no_key
        assert!(BrokerMsg::decode(&h("4e494420026162"), V).is_err());
        // smp/broker/invalid/ERR_BLOCKED_bad/v18
        assert!(
            BrokerMsg::decode(&h("45525220424c4f434b454420726561736f6e3d65676773"), V).is_err()
        );
        assert_eq!(
            BrokerMsg::decode(b"MSG x", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            BrokerMsg::decode(b"OK ", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert!(BrokerMsg::decode(b"NMSG 0123456789012345678901", V).is_err());
    }

    #[test]
    fn nmsg_fast_path() {
        let mut b = b"NMSG ".to_vec();
        b.extend_from_slice(&[7u8; 24]);
        b.extend_from_slice(b"\x03abc");
        let r = NmsgRef::parse(&b).unwrap().unwrap();
        assert_eq!(r.nonce, &[7u8; 24]);
        assert_eq!(r.enc_meta, b"abc");
        let owned = BrokerMsg::decode(&b, V).unwrap();
        assert_eq!(r.to_owned(), owned);
        assert_eq!(owned.to_vec(V), b);
        assert_eq!(NmsgRef::parse(b"NID x").unwrap(), None);
        assert_eq!(NmsgRef::parse(b"NMSGX").unwrap(), None);
        assert!(NmsgRef::parse(b"NMSG").is_err());
        b.push(0);
        assert_eq!(
            NmsgRef::parse(&b).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
    }

    #[test]
    fn credentials() {
        let no_entity = Err(ErrorType::Cmd(CommandError::NoEntity));
        assert_eq!(BrokerMsg::Ok.check_credentials(b""), no_entity);
        assert_eq!(
            BrokerMsg::Soks { count: 1 }.check_credentials(b""),
            no_entity
        );
        assert_eq!(BrokerMsg::End.check_credentials(b"q"), Ok(()));
        assert_eq!(
            BrokerMsg::Err {
                error: ErrorType::Auth
            }
            .check_credentials(b""),
            Ok(())
        );
        assert_eq!(
            BrokerMsg::Err {
                error: ErrorType::Auth
            }
            .check_credentials(b"q"),
            Ok(())
        );
        assert_eq!(BrokerMsg::Pong.check_credentials(b""), Ok(()));
        assert_eq!(
            BrokerMsg::Pong.check_credentials(b"q"),
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn broker_json() {
        let j = serde_json::json!({"error": ["BLOCKED", "reason=content,notice={\"ttl\":3600}"], "tag": "ERR"});
        let m: BrokerMsg = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(m, blocked_content());
        assert_eq!(serde_json::to_value(&m).unwrap(), j);
        let j = serde_json::json!({"count": -9223372036854775808i64, "tag": "SOKS"});
        assert_eq!(
            serde_json::from_value::<BrokerMsg>(j).unwrap(),
            BrokerMsg::Soks { count: i64::MIN }
        );
        let j = serde_json::json!({"dh_key": {"alg": "x25519", "public": "9159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218"}, "notifier_id": "b5053fb08c69f3ebf6c190216e638af5390ed57965245a50", "tag": "NID"});
        let m: BrokerMsg = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), j);
        let m = BrokerMsg::Nmsg {
            nonce: [1; 24],
            enc_meta: alloc::vec![2],
        };
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["nonce"], "01".repeat(24));
        assert_eq!(serde_json::from_value::<BrokerMsg>(j).unwrap(), m);
        assert_eq!(
            serde_json::to_value(BrokerMsg::Deld).unwrap(),
            serde_json::json!({"tag": "DELD"})
        );
    }

    #[cfg(feature = "arbitrary")]
    proptest::proptest! {
        #[test]
        fn broker_msg_round_trips(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            use arbitrary::{Arbitrary, Unstructured};
            if let Ok(m) = BrokerMsg::arbitrary(&mut Unstructured::new(&data)) {
                proptest::prop_assert_eq!(BrokerMsg::decode(&m.to_vec(V), V).unwrap(), m);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let _ = BrokerMsg::decode(&data, V);
            let _ = NmsgRef::parse(&data);
        }
    }
}
