//! Message metadata: the notification metadata inside `NMSG` and the message flags.
//!
//! ```text
//! nmsg-meta = msg-id:short-bytes msg-ts:timestamp *OCTET   ; trailing bytes ignored (extension room)
//! msg-flags = notification:bool *(%x00-1F / %x21-FF)       ; bytes up to the next space ignored
//! ```

use alloc::vec::Vec;

use crate::coding::{put_bool, put_i64, put_short, Decode, Encode, Reader};
use crate::error::DecodeResult;

/// Metadata of a message, sent (encrypted) to the notification server in `NMSG`.
///
/// ```text
/// nmsg-meta = msg-id:short-bytes msg-ts:timestamp *OCTET   ; the tail is ignored
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NMsgMeta {
    /// The message id (at most 255 bytes).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub msg_id: Vec<u8>,
    /// Message timestamp, seconds since the Unix epoch.
    pub msg_ts: i64,
}

impl NMsgMeta {
    /// Decodes metadata from the whole decrypted plaintext, ignoring bytes after the timestamp.
    ///
    /// # Errors
    /// `Truncated` when the id or the timestamp is incomplete.
    pub fn parse(bytes: &[u8]) -> DecodeResult<Self> {
        Self::decode(&mut Reader::new(bytes))
    }
}

impl Encode for NMsgMeta {
    fn encode(&self, out: &mut Vec<u8>) {
        put_short(out, &self.msg_id);
        put_i64(out, self.msg_ts);
    }
}

impl<'a> Decode<'a> for NMsgMeta {
    /// Reads the id and timestamp, then consumes (and ignores) the rest of the input.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let msg_id = r.short_bytes("message id")?.to_vec();
        let msg_ts = r.i64("message timestamp")?;
        r.rest();
        Ok(Self { msg_id, msg_ts })
    }
}

/// Message flags.
///
/// ```text
/// msg-flags = notification:bool *(any byte but SP)   ; the extra bytes are ignored
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MsgFlags {
    /// Whether the recipient should be notified.
    pub notification: bool,
}

impl Encode for MsgFlags {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bool(out, self.notification);
    }
}

impl<'a> Decode<'a> for MsgFlags {
    /// Reads the flag, then skips bytes up to (not including) the next space.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let notification = r.bool("notification flag")?;
        r.take_till(|c| c == b' ');
        Ok(Self { notification })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for NMsgMeta {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=255usize)?;
        Ok(Self {
            msg_id: u.bytes(n)?.to_vec(),
            msg_ts: u.arbitrary()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeErrorKind;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn decode_nmsg_meta_vectors() {
        let cases: &[(&str, &str, i64, Option<&str>)] = &[
            (
                "1809ed5a18b63fcd116816568cdb5b2d77793da5618f0c867f0000000066669980d81e2f61857c3114",
                "09ed5a18b63fcd116816568cdb5b2d77793da5618f0c867f",
                1718000000,
                Some("1809ed5a18b63fcd116816568cdb5b2d77793da5618f0c867f0000000066669980"),
            ),
            (
                "0cff280344cfe583c1a512f81e00000000f48657002046",
                "ff280344cfe583c1a512f81e",
                4102444800,
                Some("0cff280344cfe583c1a512f81e00000000f4865700"),
            ),
            (
                "1809ed5a18b63fcd116816568cdb5b2d77793da5618f0c867f0000000066669980",
                "09ed5a18b63fcd116816568cdb5b2d77793da5618f0c867f",
                1718000000,
                None,
            ),
            ("000000000000000000", "", 0, None),
            (
                "18c7e5f414d95f76b24f6ad08f9821ae530e5f17245ce2744f7fffffffffffffff",
                "c7e5f414d95f76b24f6ad08f9821ae530e5f17245ce2744f",
                i64::MAX,
                None,
            ),
            ("0cff280344cfe583c1a512f81e00000000f4865700", "ff280344cfe583c1a512f81e", 4102444800, None),
        ];
        for (hex_in, id, ts, canon) in cases {
            let m = NMsgMeta::decode_exact(&h(hex_in)).unwrap();
            assert_eq!(
                m,
                NMsgMeta {
                    msg_id: h(id),
                    msg_ts: *ts
                }
            );
            assert_eq!(m.to_bytes(), h(canon.unwrap_or(hex_in)));
        }
        // nmsg/meta/len255_ts1
        let mut v = alloc::vec![0xffu8];
        v.extend(core::iter::repeat(7u8).take(255));
        v.extend_from_slice(&1i64.to_be_bytes());
        let m = NMsgMeta::parse(&v).unwrap();
        assert_eq!((m.msg_id.len(), m.msg_ts), (255, 1));
        assert_eq!(m.to_bytes(), v);
    }

    #[test]
    fn rejects_truncated_nmsg_meta() {
        // nmsg/meta/len24_ts1718000000/1/trunc_1 and nmsg/meta/invalid/len_over
        assert_eq!(
            NMsgMeta::parse(&h("18")).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        assert_eq!(
            NMsgMeta::parse(&h("20616263")).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        assert!(NMsgMeta::parse(&h("0000")).is_err());
    }

    #[test]
    fn msg_flags_skip_to_space() {
        let mut r = Reader::new(b"Tabc rest");
        assert_eq!(
            MsgFlags::decode(&mut r).unwrap(),
            MsgFlags { notification: true }
        );
        assert_eq!(r.peek_rest(), b" rest");
        assert_eq!(
            MsgFlags::decode_exact(b"F").unwrap(),
            MsgFlags {
                notification: false
            }
        );
        assert!(MsgFlags::decode_exact(b"X").is_err());
        assert_eq!(MsgFlags { notification: true }.to_bytes(), b"T");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn nmsg_meta_json() {
        let m = NMsgMeta {
            msg_id: h("ff28"),
            msg_ts: 5,
        };
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j, serde_json::json!({"msg_id": "ff28", "msg_ts": 5}));
        assert_eq!(serde_json::from_value::<NMsgMeta>(j).unwrap(), m);
    }

    proptest::proptest! {
        #[test]
        fn nmsg_meta_round_trips(id in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=255), ts in proptest::prelude::any::<i64>(), tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8)) {
            let m = NMsgMeta { msg_id: id, msg_ts: ts };
            let mut b = m.to_bytes();
            proptest::prop_assert_eq!(NMsgMeta::decode_exact(&b).unwrap(), m.clone());
            b.extend_from_slice(&tail);
            proptest::prop_assert_eq!(NMsgMeta::parse(&b).unwrap(), m);
        }

        #[test]
        fn msg_flags_round_trip(n in proptest::prelude::any::<bool>()) {
            let f = MsgFlags { notification: n };
            proptest::prop_assert_eq!(MsgFlags::decode_exact(&f.to_bytes()).unwrap(), f);
        }
    }
}
