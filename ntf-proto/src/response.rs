//! NTF server responses (the command part of a server transmission).
//!
//! ```text
//! ntf-response = "IDTKN" " " entity-id dh-key   ; token created: its id and the server's DH key
//!              / "IDSUB" " " entity-id          ; subscription created
//!              / "OK"
//!              / "ERR" " " error-type
//!              / "TKN" " " token-status         ; INVALID carries its reason from NTF v3
//!              / "SUB" " " sub-status
//!              / "PONG"
//! entity-id    = short-bytes
//! dh-key       = public-key                     ; X25519
//! ```
//!
//! The tag rules are those of [`crate::command`]: the tag runs to the first space, the rest is
//! parsed by the tag's fields and must be consumed entirely, and only an unknown tag decodes to
//! [`DecodeErrorKind::UnknownTag`].

use alloc::vec::Vec;
use core::fmt;

use smp_proto::coding::{Decode, Encode, Reader};
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};
use smp_proto::error_type::ErrorType;
use smp_proto::keys::X25519PublicKey;

use crate::command::{no_unknown_tag, NtfEntityId};
use crate::subscription::NtfSubStatus;
use crate::token::NtfTknStatus;
use crate::version::Version;

/// The tag of an NTF response.
///
/// ```text
/// tag = "IDTKN" / "IDSUB" / "OK" / "ERR" / "TKN" / "SUB" / "PONG"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtfResponseTag {
    /// `IDTKN`: token registered.
    IdTkn,
    /// `IDSUB`: subscription created.
    IdSub,
    /// `OK`.
    Ok,
    /// `ERR`: an error.
    Err,
    /// `TKN`: token status.
    Tkn,
    /// `SUB`: subscription status.
    Sub,
    /// `PONG`: answer to `PING`.
    Pong,
}

impl NtfResponseTag {
    /// All tags.
    pub const ALL: [NtfResponseTag; 7] = [
        Self::IdTkn,
        Self::IdSub,
        Self::Ok,
        Self::Err,
        Self::Tkn,
        Self::Sub,
        Self::Pong,
    ];

    /// The wire tag.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IdTkn => "IDTKN",
            Self::IdSub => "IDSUB",
            Self::Ok => "OK",
            Self::Err => "ERR",
            Self::Tkn => "TKN",
            Self::Sub => "SUB",
            Self::Pong => "PONG",
        }
    }

    /// The tag for wire bytes, `None` for an unknown tag.
    pub fn from_bytes(tag: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str().as_bytes() == tag)
    }
}

impl fmt::Display for NtfResponseTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An NTF server response.
///
/// ```text
/// ntf-response = "IDTKN" " " entity-id dh-key / "IDSUB" " " entity-id / "OK"
///              / "ERR" " " error-type / "TKN" " " token-status / "SUB" " " sub-status / "PONG"
/// ```
///
/// Only `TKN` depends on the NTF version: below v3 `INVALID` is sent without its reason.
/// Decoding accepts the reason at every version, as the reference does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtfResponse {
    /// The new token's id and the server's X25519 key for the notification shared secret.
    IdTkn {
        /// Token id.
        id: NtfEntityId,
        /// The server's DH key.
        dh_key: X25519PublicKey,
    },
    /// The new subscription's id.
    IdSub(NtfEntityId),
    /// Success.
    Ok,
    /// An error.
    Err(ErrorType),
    /// The token's status.
    Tkn(NtfTknStatus),
    /// The subscription's status.
    Sub(NtfSubStatus),
    /// Keep-alive answer.
    Pong,
}

impl NtfResponse {
    /// The response's tag.
    pub const fn tag(&self) -> NtfResponseTag {
        match self {
            Self::IdTkn { .. } => NtfResponseTag::IdTkn,
            Self::IdSub(_) => NtfResponseTag::IdSub,
            Self::Ok => NtfResponseTag::Ok,
            Self::Err(_) => NtfResponseTag::Err,
            Self::Tkn(_) => NtfResponseTag::Tkn,
            Self::Sub(_) => NtfResponseTag::Sub,
            Self::Pong => NtfResponseTag::Pong,
        }
    }

    /// Appends the response as sent at NTF version `v`.
    ///
    /// ```text
    /// tag [" " fields]     ; TKN INVALID drops ",reason" below v3
    /// ```
    pub fn encode(&self, v: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_str().as_bytes());
        match self {
            Self::IdTkn { id, dh_key } => {
                out.push(b' ');
                id.encode(out);
                dh_key.encode(out);
            }
            Self::IdSub(id) => {
                out.push(b' ');
                id.encode(out);
            }
            Self::Err(e) => {
                out.push(b' ');
                e.encode(out);
            }
            Self::Tkn(status) => {
                out.push(b' ');
                status.for_version(v).encode(out);
            }
            Self::Sub(status) => {
                out.push(b' ');
                status.encode(out);
            }
            Self::Ok | Self::Pong => {}
        }
    }

    /// The response at NTF version `v` as a new vector.
    pub fn to_bytes(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Decodes a whole command part of a server transmission at NTF version `v`.
    ///
    /// # Errors
    /// `UnknownTag` (offset 0) for a tag that is not a response; otherwise the field's error
    /// (never `UnknownTag`), or `TrailingBytes` when bytes are left.
    pub fn decode(bytes: &[u8], _v: Version) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let tag = NtfResponseTag::from_bytes(r.take_till(|b| b == b' ')).ok_or(
            DecodeError::new(DecodeErrorKind::UnknownTag, 0, "NTF response tag"),
        )?;
        let resp = Self::decode_fields(tag, &mut r).map_err(no_unknown_tag)?;
        r.finish()?;
        Ok(resp)
    }

    fn decode_fields(tag: NtfResponseTag, r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(match tag {
            NtfResponseTag::IdTkn => {
                r.space()?;
                let id = NtfEntityId::decode(r)?;
                Self::IdTkn {
                    id,
                    dh_key: X25519PublicKey::decode(r)?,
                }
            }
            NtfResponseTag::IdSub => {
                r.space()?;
                Self::IdSub(NtfEntityId::decode(r)?)
            }
            NtfResponseTag::Ok => Self::Ok,
            NtfResponseTag::Err => {
                r.space()?;
                Self::Err(ErrorType::decode(r)?)
            }
            NtfResponseTag::Tkn => {
                r.space()?;
                Self::Tkn(NtfTknStatus::decode(r)?)
            }
            NtfResponseTag::Sub => {
                r.space()?;
                Self::Sub(NtfSubStatus::decode(r)?)
            }
            NtfResponseTag::Pong => Self::Pong,
        })
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON form (`ntf.response`): `{"tag": TAG, ...fields}`.
    use super::*;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "tag")]
    #[allow(clippy::upper_case_acronyms)]
    enum ResponseJson {
        IDTKN {
            id: NtfEntityId,
            dh_key: X25519PublicKey,
        },
        IDSUB {
            id: NtfEntityId,
        },
        OK,
        ERR {
            error: ErrorType,
        },
        TKN {
            status: NtfTknStatus,
        },
        SUB {
            status: NtfSubStatus,
        },
        PONG,
    }

    impl Serialize for NtfResponse {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let j = match self.clone() {
                NtfResponse::IdTkn { id, dh_key } => ResponseJson::IDTKN { id, dh_key },
                NtfResponse::IdSub(id) => ResponseJson::IDSUB { id },
                NtfResponse::Ok => ResponseJson::OK,
                NtfResponse::Err(error) => ResponseJson::ERR { error },
                NtfResponse::Tkn(status) => ResponseJson::TKN { status },
                NtfResponse::Sub(status) => ResponseJson::SUB { status },
                NtfResponse::Pong => ResponseJson::PONG,
            };
            j.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for NtfResponse {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(match ResponseJson::deserialize(d)? {
                ResponseJson::IDTKN { id, dh_key } => NtfResponse::IdTkn { id, dh_key },
                ResponseJson::IDSUB { id } => NtfResponse::IdSub(id),
                ResponseJson::OK => NtfResponse::Ok,
                ResponseJson::ERR { error } => NtfResponse::Err(error),
                ResponseJson::TKN { status } => NtfResponse::Tkn(status),
                ResponseJson::SUB { status } => NtfResponse::Sub(status),
                ResponseJson::PONG => NtfResponse::Pong,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::NtInvalidReason;
    use proptest::prelude::*;

    const V: Version = crate::version::CURRENT;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn check_at(v: Version, hex_in: &str, canonical: Option<&str>, expected: &NtfResponse) {
        assert_eq!(
            &NtfResponse::decode(&h(hex_in), v).unwrap(),
            expected,
            "{hex_in}"
        );
        assert_eq!(
            hex::encode(expected.to_bytes(v)),
            canonical.unwrap_or(hex_in)
        );
    }

    fn err(tokens: &[&str]) -> NtfResponse {
        NtfResponse::Err(ErrorType::from_tokens(tokens).unwrap())
    }

    #[test]
    fn decode_tkn_by_version() {
        let invalid = |r| NtfResponse::Tkn(NtfTknStatus::Invalid(Some(r)));
        // ntf/response/TKN/INVALID_reason_sent_to_v1/BAD/p
        check_at(
            Version(1),
            "544b4e20494e56414c49442c424144",
            Some("544b4e20494e56414c4944"),
            &invalid(NtInvalidReason::BadToken),
        );
        // ntf/response/TKN/INVALID_reason_sent_to_v1/UNREGISTERED/p
        check_at(
            Version(1),
            "544b4e20494e56414c49442c554e52454749535445524544",
            Some("544b4e20494e56414c4944"),
            &invalid(NtInvalidReason::Unregistered),
        );
        // ntf/response/TKN/INVALID_reason_at_v1_input/p
        check_at(
            Version(1),
            "544b4e20494e56414c49442c544f504943",
            Some("544b4e20494e56414c4944"),
            &invalid(NtInvalidReason::TokenNotForTopic),
        );
        // ntf/response/TKN/INVALID/v2/p
        check_at(
            Version(2),
            "544b4e20494e56414c4944",
            None,
            &NtfResponse::Tkn(NtfTknStatus::Invalid(None)),
        );
        // ntf/response/TKN/EXPIRED/v1/p
        check_at(
            Version(1),
            "544b4e2045585049524544",
            None,
            &NtfResponse::Tkn(NtfTknStatus::Expired),
        );
        // ntf/response/TKN/INVALID_TOPIC/v3/p
        check_at(
            Version(3),
            "544b4e20494e56414c49442c544f504943",
            None,
            &invalid(NtInvalidReason::TokenNotForTopic),
        );
        // v2 still drops the reason
        assert_eq!(
            invalid(NtInvalidReason::BadToken).to_bytes(Version(2)),
            b"TKN INVALID"
        );
    }

    #[test]
    fn decode_idtkn_sub_err() {
        // ntf/response/IDTKN/len24/1/p
        let dh: [u8; 32] = h("aa3fc74078de75f456e002986ffd61ed881ac62dcf33e6301ecefd442efabc16")
            .try_into()
            .unwrap();
        check_at(
            V,
            "4944544b4e201875a33ef5ff3d1af817a169b711318926e498502cb4d92d172c302a300506032b656e032100aa3fc74078de75f456e002986ffd61ed881ac62dcf33e6301ecefd442efabc16",
            None,
            &NtfResponse::IdTkn {
                id: NtfEntityId::new(h("75a33ef5ff3d1af817a169b711318926e498502cb4d92d17")).unwrap(),
                dh_key: X25519PublicKey(dh),
            },
        );
        // ntf/response/SUB/PENDING/p
        check_at(
            V,
            "5355422050454e44494e47",
            None,
            &NtfResponse::Sub(NtfSubStatus::Pending),
        );
        // ntf/response/SUB/ERR_with_spaces/p
        check_at(
            V,
            "53554220455252206120622063",
            None,
            &NtfResponse::Sub(NtfSubStatus::Err(b"a b c".to_vec())),
        );
        // ntf/response/ERR/AUTH/p
        check_at(
            V,
            "4552522041555448",
            None,
            &NtfResponse::Err(ErrorType::Auth),
        );
        // ntf/response/ERR/STORE_utf8/p
        check_at(
            V,
            "4552522053544f524520d0bed188d0b8d0b1d0bad0b020d185d180d0b0d0bdd0b8d0bbd0b8d189d0b0",
            None,
            &NtfResponse::Err(ErrorType::Store("ошибка хранилища".into())),
        );
        // ntf/response/ERR/PROXY_NO_SESSION/p
        check_at(
            V,
            "4552522050524f5859204e4f5f53455353494f4e",
            None,
            &err(&["PROXY", "NO_SESSION"]),
        );
        // ntf/response/ERR/PROXY_BROKER_NO_SERVICE/p
        check_at(
            V,
            "4552522050524f58592042524f4b4552204e4f5f53455256494345",
            None,
            &err(&["PROXY", "BROKER", "NO_SERVICE"]),
        );
        // ntf/response/ERR/PROXY_BROKER_TRANSPORT_HANDSHAKE_BAD_SERVICE/p
        check_at(
            V,
            "4552522050524f58592042524f4b4552205452414e53504f52542048414e445348414b45204241445f53455256494345",
            None,
            &err(&["PROXY", "BROKER", "TRANSPORT", "HANDSHAKE", "BAD_SERVICE"]),
        );
        // ntf/response/ERR/NETWORK_detail_dropped_FAILED/p: the NETWORK detail is read, not written
        let e = NtfResponse::decode(
            &h("4552522050524f58592042524f4b4552204e4554574f524b204641494c4544"),
            V,
        )
        .unwrap();
        assert_eq!(
            hex::encode(e.to_bytes(V)),
            "4552522050524f58592042524f4b4552204e4554574f524b"
        );
        // OK, PONG, IDSUB
        check_at(V, &hex::encode("OK"), None, &NtfResponse::Ok);
        check_at(V, &hex::encode("PONG"), None, &NtfResponse::Pong);
        check_at(
            V,
            &hex::encode("IDSUB \x02ab"),
            None,
            &NtfResponse::IdSub(NtfEntityId::new(&b"ab"[..]).unwrap()),
        );
    }

    #[test]
    fn rejects_invalid_responses() {
        // ntf/response/IDTKN/trunc_69/p
        let e = NtfResponse::decode(&h("4944544b4e201875a33ef5ff3d1af817a169b711318926e498502cb4d92d172c302a300506032b656e032100aa3fc74078de75f456e002986ffd61ed881ac62dcf33e6301e"), V).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Truncated);
        // ntf/response/invalid/SUB_unknown/p
        assert_eq!(
            NtfResponse::decode(&h("53554220464f4f"), V)
                .unwrap_err()
                .kind,
            DecodeErrorKind::BadValue
        );
        // ntf/response/invalid/ERR_PROXY_BROKER_missing/p
        assert!(NtfResponse::decode(&h("4552522050524f58592042524f4b4552"), V).is_err());
        // ntf/response/invalid/ERR_BLOCKED_bad_notice/p
        assert!(NtfResponse::decode(
            &h("45525220424c4f434b454420726561736f6e3d7370616d2c6e6f746963653d7b626164"),
            V
        )
        .is_err());
        // ntf/response/invalid/IDTKN_trailing/p
        let e = NtfResponse::decode(&h("4944544b4e20036162632c302a300506032b656e032100a672b9a92396cb244099c0baef14de3ea9d3cee15e00f77602d826bdebc2212300"), V).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TrailingBytes);
        // tags
        assert_eq!(
            NtfResponse::decode(b"NOPE", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            NtfResponse::decode(b"OK ", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            NtfResponse::decode(b"TKN ACTIVE ", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        // an unknown error keyword is a syntax error, not an unknown response
        assert_ne!(
            NtfResponse::decode(b"ERR NOPE", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
    }

    fn response() -> impl Strategy<Value = NtfResponse> {
        use crate::subscription::tests::sub_status;
        use crate::token::tests::token_status;
        prop_oneof![
            (
                prop::collection::vec(any::<u8>(), 0..=255),
                any::<[u8; 32]>()
            )
                .prop_map(|(id, k)| NtfResponse::IdTkn {
                    id: NtfEntityId::new(id).unwrap(),
                    dh_key: X25519PublicKey(k)
                }),
            prop::collection::vec(any::<u8>(), 0..=255)
                .prop_map(|id| NtfResponse::IdSub(NtfEntityId::new(id).unwrap())),
            Just(NtfResponse::Ok),
            prop_oneof![
                Just(ErrorType::Auth),
                Just(ErrorType::Block),
                Just(ErrorType::Internal),
                "[a-z ]{0,20}".prop_map(ErrorType::Store),
            ]
            .prop_map(NtfResponse::Err),
            token_status().prop_map(NtfResponse::Tkn),
            sub_status().prop_map(NtfResponse::Sub),
            Just(NtfResponse::Pong),
        ]
    }

    proptest! {
        #[test]
        fn response_round_trip_v3(r in response()) {
            prop_assert_eq!(NtfResponse::decode(&r.to_bytes(V), V).unwrap(), r);
        }

        #[test]
        fn response_round_trip_old_versions(r in response(), v in 1u16..=2) {
            let v = Version(v);
            let want = match r.clone() {
                NtfResponse::Tkn(s) => NtfResponse::Tkn(s.for_version(v)),
                other => other,
            };
            prop_assert_eq!(NtfResponse::decode(&r.to_bytes(v), v).unwrap(), want);
        }

        #[test]
        fn response_decode_never_panics(b in prop::collection::vec(any::<u8>(), 0..120)) {
            let _ = NtfResponse::decode(&b, V);
        }
    }
    /// The conformance vectors of type `ntf.response`: (name, version, hex, canonical hex, value JSON or "" when invalid).
    #[cfg(feature = "serde")]
    const VECTORS: &[(&str, u16, &str, &str, &str)] = &[
        ("ntf/response/TKN/INVALID_reason_sent_to_v1/BAD/p", 1, "544b4e20494e56414c49442c424144", "544b4e20494e56414c4944", r#"{"status": "INVALID,BAD", "tag": "TKN"}"#),
        ("ntf/response/TKN/INVALID_reason_sent_to_v1/UNREGISTERED/p", 1, "544b4e20494e56414c49442c554e52454749535445524544", "544b4e20494e56414c4944", r#"{"status": "INVALID,UNREGISTERED", "tag": "TKN"}"#),
        ("ntf/response/ERR/NETWORK_detail_dropped_FAILED/p", 0, "4552522050524f58592042524f4b4552204e4554574f524b204641494c4544", "4552522050524f58592042524f4b4552204e4554574f524b", r#"{"error": ["PROXY", "BROKER", "NETWORK"], "tag": "ERR"}"#),
        ("ntf/response/TKN/INVALID_reason_at_v1_input/p", 1, "544b4e20494e56414c49442c544f504943", "544b4e20494e56414c4944", r#"{"status": "INVALID,TOPIC", "tag": "TKN"}"#),
        ("ntf/response/IDTKN/len24/1/p", 0, "4944544b4e201875a33ef5ff3d1af817a169b711318926e498502cb4d92d172c302a300506032b656e032100aa3fc74078de75f456e002986ffd61ed881ac62dcf33e6301ecefd442efabc16", "", r#"{"dh_key": {"alg": "x25519", "public": "aa3fc74078de75f456e002986ffd61ed881ac62dcf33e6301ecefd442efabc16"}, "id": "75a33ef5ff3d1af817a169b711318926e498502cb4d92d17", "tag": "IDTKN"}"#),
        ("ntf/response/ERR/AUTH/p", 0, "4552522041555448", "", r#"{"error": ["AUTH"], "tag": "ERR"}"#),
        ("ntf/response/ERR/STORE_utf8/p", 0, "4552522053544f524520d0bed188d0b8d0b1d0bad0b020d185d180d0b0d0bdd0b8d0bbd0b8d189d0b0", "", r#"{"error": ["STORE", "ошибка хранилища"], "tag": "ERR"}"#),
        ("ntf/response/ERR/PROXY_NO_SESSION/p", 0, "4552522050524f5859204e4f5f53455353494f4e", "", r#"{"error": ["PROXY", "NO_SESSION"], "tag": "ERR"}"#),
        ("ntf/response/ERR/PROXY_BROKER_NO_SERVICE/p", 0, "4552522050524f58592042524f4b4552204e4f5f53455256494345", "", r#"{"error": ["PROXY", "BROKER", "NO_SERVICE"], "tag": "ERR"}"#),
        ("ntf/response/ERR/PROXY_BROKER_TRANSPORT_HANDSHAKE_BAD_SERVICE/p", 0, "4552522050524f58592042524f4b4552205452414e53504f52542048414e445348414b45204241445f53455256494345", "", r#"{"error": ["PROXY", "BROKER", "TRANSPORT", "HANDSHAKE", "BAD_SERVICE"], "tag": "ERR"}"#),
        ("ntf/response/TKN/INVALID/v2/p", 2, "544b4e20494e56414c4944", "", r#"{"status": "INVALID", "tag": "TKN"}"#),
        ("ntf/response/TKN/EXPIRED/v1/p", 1, "544b4e2045585049524544", "", r#"{"status": "EXPIRED", "tag": "TKN"}"#),
        ("ntf/response/TKN/INVALID_TOPIC/v3/p", 3, "544b4e20494e56414c49442c544f504943", "", r#"{"status": "INVALID,TOPIC", "tag": "TKN"}"#),
        ("ntf/response/SUB/PENDING/p", 0, "5355422050454e44494e47", "", r#"{"status": "PENDING", "tag": "SUB"}"#),
        ("ntf/response/SUB/ERR_with_spaces/p", 0, "53554220455252206120622063", "", r#"{"status": "ERR a b c", "tag": "SUB"}"#),
        ("ntf/response/IDTKN/trunc_69/p", 0, "4944544b4e201875a33ef5ff3d1af817a169b711318926e498502cb4d92d172c302a300506032b656e032100aa3fc74078de75f456e002986ffd61ed881ac62dcf33e6301e", "", r#""#),
        ("ntf/response/invalid/SUB_unknown/p", 0, "53554220464f4f", "", r#""#),
        ("ntf/response/invalid/ERR_PROXY_BROKER_missing/p", 0, "4552522050524f58592042524f4b4552", "", r#""#),
        ("ntf/response/invalid/ERR_BLOCKED_bad_notice/p", 0, "45525220424c4f434b454420726561736f6e3d7370616d2c6e6f746963653d7b626164", "", r#""#),
        ("ntf/response/invalid/IDTKN_trailing/p", 0, "4944544b4e20036162632c302a300506032b656e032100a672b9a92396cb244099c0baef14de3ea9d3cee15e00f77602d826bdebc2212300", "", r#""#),
    ];

    #[cfg(feature = "serde")]
    #[test]
    fn json_vectors() {
        crate::test_vectors::check_json_vectors(VECTORS, V, NtfResponse::decode, |x, v| {
            x.to_bytes(v)
        });
    }
}
