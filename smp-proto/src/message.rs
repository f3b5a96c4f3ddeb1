//! Message metadata: the notification metadata inside `NMSG`, the message flags, and the
//! message body a relay encrypts for the recipient inside `MSG`.
//!
//! ```text
//! nmsg-meta    = msg-id:short-bytes msg-ts:timestamp *OCTET   ; trailing bytes ignored (extension room)
//! msg-flags    = notification:bool *(%x00-1F / %x21-FF)       ; bytes up to the next space ignored
//! rcv-msg-body = msg-ts:timestamp msg-flags SP body:*OCTET / "QUOTA" SP msg-ts:timestamp
//! ```

use alloc::vec::Vec;

use crate::coding::{put_bool, put_i64, put_short, Decode, Encode, Reader};
use crate::crypto::{cb_nonce, crypto_box_open_padded, crypto_box_padded, CryptoError, NONCE_LEN};
use crate::error::DecodeResult;
use crate::version::{smp, Version};

/// The largest message body a relay stores (`MaxMessageLen`).
pub const MAX_MESSAGE_LEN: usize = 16088;

/// The largest encoded [`RcvMsgBody`] (`MaxRcvMessageLen`): the body, the timestamp, the flags
/// and the space. It is padded to this length plus 2 before encryption.
pub const MAX_RCV_MESSAGE_LEN: usize = MAX_MESSAGE_LEN + 16;

/// The padded length of the encrypted notification metadata in `NMSG`.
pub const NMSG_META_PADDED_LEN: usize = 128;

/// The largest `SEND` body a relay accepts from a client at version `v` (`maxMessageLength`):
/// 16048 from v11, 16064 from v8, 16088 before.
pub const fn max_message_length(v: Version) -> usize {
    if v.0 >= smp::ENCRYPTED_BLOCK.0 {
        16048
    } else if v.0 >= smp::SENDING_PROXY.0 {
        16064
    } else {
        MAX_MESSAGE_LEN
    }
}

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

impl NMsgMeta {
    /// Encrypts the metadata for `NMSG` as the relay does (`cbEncrypt secret nonce meta 128`):
    /// padded to 128 bytes, then `crypto_box` with the queue's notifier DH secret.
    ///
    /// # Errors
    /// [`CryptoError::LargeMsg`] when the encoding exceeds 126 bytes (a message id over 110 bytes).
    pub fn encrypt(
        &self,
        secret: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Vec<u8>, CryptoError> {
        crypto_box_padded(secret, nonce, &self.to_bytes(), NMSG_META_PADDED_LEN)
    }

    /// Decrypts and parses the metadata of an `NMSG` with the recipient's notifier DH secret.
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] or [`CryptoError::InvalidMsg`] when the box does not open or
    /// unpad, [`CryptoError::InvalidMsg`] when the plaintext is not metadata.
    pub fn decrypt(
        secret: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        enc_meta: &[u8],
    ) -> Result<Self, CryptoError> {
        let plain = crypto_box_open_padded(secret, nonce, enc_meta)?;
        Self::parse(&plain).map_err(|_| CryptoError::InvalidMsg)
    }
}

/// The message as the relay delivers it to the recipient, before the relay's encryption
/// (`RcvMsgBody` / `ClientRcvMsgBody`).
///
/// ```text
/// rcv-msg-body = msg-ts:timestamp msg-flags SP body:*OCTET   ; a message
///              / "QUOTA" SP msg-ts:timestamp                  ; the queue reached its quota
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RcvMsgBody {
    /// A message sent with `SEND`.
    Message {
        /// When the relay received it, seconds since the Unix epoch.
        msg_ts: i64,
        /// The flags sent with it.
        msg_flags: MsgFlags,
        /// The sender's (end-to-end encrypted) body.
        body: Vec<u8>,
    },
    /// The marker the relay stores when the queue is full.
    Quota {
        /// When the quota was reached.
        msg_ts: i64,
    },
}

impl RcvMsgBody {
    /// The timestamp.
    pub const fn msg_ts(&self) -> i64 {
        match self {
            Self::Message { msg_ts, .. } | Self::Quota { msg_ts } => *msg_ts,
        }
    }

    /// Parses a whole decrypted body (`parseAll clientRcvMsgBodyP`): the quota marker first,
    /// then a message.
    ///
    /// # Errors
    /// `Truncated` or `BadValue` when it is neither.
    pub fn parse(bytes: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        // the quota alternative commits once "QUOTA" SP timestamp parsed (attoparsec `<|>`
        // inside `parseAll`): trailing bytes are then an error, not a message
        if r.eat_slice(b"QUOTA") && r.space().is_ok() {
            if let Ok(msg_ts) = r.i64("quota timestamp") {
                r.finish()?;
                return Ok(Self::Quota { msg_ts });
            }
        }
        let mut r = Reader::new(bytes);
        let msg_ts = r.i64("message timestamp")?;
        let msg_flags = MsgFlags::decode(&mut r)?;
        r.space()?;
        let body = r.rest().to_vec();
        Ok(Self::Message {
            msg_ts,
            msg_flags,
            body,
        })
    }

    /// Encrypts the body for `MSG` as the relay does (`encryptMsg`): `crypto_box` with the
    /// queue's recipient DH secret, the nonce derived from the message id (`cbNonce`), the
    /// encoding padded to [`MAX_RCV_MESSAGE_LEN`] + 2 (16106) bytes; 16122 bytes out.
    ///
    /// # Errors
    /// [`CryptoError::LargeMsg`] when the body exceeds [`MAX_MESSAGE_LEN`].
    pub fn encrypt(&self, secret: &[u8; 32], msg_id: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if let Self::Message { body, .. } = self {
            if body.len() > MAX_MESSAGE_LEN {
                return Err(CryptoError::LargeMsg);
            }
        }
        crypto_box_padded(
            secret,
            &cb_nonce(msg_id),
            &self.to_bytes(),
            MAX_RCV_MESSAGE_LEN + 2,
        )
    }

    /// Decrypts and parses the body of a `MSG` with the recipient's DH secret.
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] when the box does not open, [`CryptoError::InvalidMsg`] for bad
    /// padding or a plaintext that does not parse.
    pub fn decrypt(secret: &[u8; 32], msg_id: &[u8], enc_body: &[u8]) -> Result<Self, CryptoError> {
        let plain = crypto_box_open_padded(secret, &cb_nonce(msg_id), enc_body)?;
        Self::parse(&plain).map_err(|_| CryptoError::InvalidMsg)
    }
}

impl Encode for RcvMsgBody {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Message {
                msg_ts,
                msg_flags,
                body,
            } => {
                put_i64(out, *msg_ts);
                msg_flags.encode(out);
                out.push(b' ');
                out.extend_from_slice(body);
            }
            Self::Quota { msg_ts } => {
                out.extend_from_slice(b"QUOTA ");
                put_i64(out, *msg_ts);
            }
        }
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

    #[test]
    fn rcv_msg_body_bytes() {
        // encodeRcvMsgBody: smpEncode (msgTs, msgFlags, ' ') <> body
        let m = RcvMsgBody::Message {
            msg_ts: 0x0102030405060708,
            msg_flags: MsgFlags { notification: true },
            body: b"hello".to_vec(),
        };
        assert_eq!(m.to_bytes(), h("0102030405060708542068656c6c6f"));
        assert_eq!(RcvMsgBody::parse(&m.to_bytes()).unwrap(), m);
        // msgQuotaTag <> " " <> smpEncode msgTs
        let q = RcvMsgBody::Quota { msg_ts: 1718000000 };
        assert_eq!(q.to_bytes(), h("51554f5441200000000066669980"));
        assert_eq!(RcvMsgBody::parse(&q.to_bytes()).unwrap(), q);
        // flag extension bytes up to the space are skipped, as the reference parser does
        assert_eq!(
            RcvMsgBody::parse(&h("0000000000000001467878207879")).unwrap(),
            RcvMsgBody::Message {
                msg_ts: 1,
                msg_flags: MsgFlags::default(),
                body: b"xy".to_vec()
            }
        );
        assert!(RcvMsgBody::parse(&h("0000000000000001")).is_err());
        assert!(RcvMsgBody::parse(&h("000000000000000154")).is_err());
    }

    #[test]
    fn rcv_msg_body_encryption() {
        let secret = [7u8; 32];
        let m = RcvMsgBody::Message {
            msg_ts: 5,
            msg_flags: MsgFlags::default(),
            body: alloc::vec![1; 100],
        };
        let enc = m.encrypt(&secret, b"msg-id").unwrap();
        // the padded size is 16106 (MaxRcvMessageLen + 2), plus the 16-byte tag
        assert_eq!(enc.len(), 16122);
        assert_eq!(RcvMsgBody::decrypt(&secret, b"msg-id", &enc).unwrap(), m);
        assert_eq!(
            RcvMsgBody::decrypt(&secret, b"other", &enc),
            Err(CryptoError::Decrypt)
        );
        let big = RcvMsgBody::Message {
            msg_ts: 5,
            msg_flags: MsgFlags::default(),
            body: alloc::vec![1; MAX_MESSAGE_LEN + 1],
        };
        assert_eq!(big.encrypt(&secret, b"m"), Err(CryptoError::LargeMsg));
        let max = RcvMsgBody::Message {
            msg_ts: 5,
            msg_flags: MsgFlags::default(),
            body: alloc::vec![1; MAX_MESSAGE_LEN],
        };
        assert_eq!(max.encrypt(&secret, b"m").unwrap().len(), 16122);
    }

    #[test]
    fn nmsg_meta_encryption() {
        let secret = [9u8; 32];
        let nonce = [3u8; 24];
        let m = NMsgMeta {
            msg_id: alloc::vec![1; 24],
            msg_ts: 1718000000,
        };
        let enc = m.encrypt(&secret, &nonce).unwrap();
        // cbEncrypt pads to 128, crypto_box adds the 16-byte tag
        assert_eq!(enc.len(), 144);
        assert_eq!(NMsgMeta::decrypt(&secret, &nonce, &enc).unwrap(), m);
        assert!(NMsgMeta::decrypt(&[8u8; 32], &nonce, &enc).is_err());
        assert_eq!(max_message_length(Version(6)), 16088);
        assert_eq!(max_message_length(Version(8)), 16064);
        assert_eq!(max_message_length(Version(11)), 16048);
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
        fn rcv_msg_body_round_trips(ts in proptest::prelude::any::<i64>(), n in proptest::prelude::any::<bool>(), body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), quota: bool) {
            let m = if quota { RcvMsgBody::Quota { msg_ts: ts } } else { RcvMsgBody::Message { msg_ts: ts, msg_flags: MsgFlags { notification: n }, body } };
            let b = m.to_bytes();
            // a timestamp whose bytes read "QUOTA " would be taken as the marker, as in the reference
            if !b.starts_with(b"QUOTA ") || quota {
                proptest::prop_assert_eq!(RcvMsgBody::parse(&b).unwrap(), m);
            }
        }

        #[test]
        fn msg_flags_round_trip(n in proptest::prelude::any::<bool>()) {
            let f = MsgFlags { notification: n };
            proptest::prop_assert_eq!(MsgFlags::decode_exact(&f.to_bytes()).unwrap(), f);
        }
    }
}
