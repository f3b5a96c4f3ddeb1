//! The status of a notification subscription (an SMP queue the server subscribed to for a token).
//!
//! ```text
//! sub-status = "NEW" / "PENDING" / "ACTIVE" / "INACTIVE" / "END" / "DELETED" / "AUTH"
//!            / "SERVICE" / "ERR" " " *OCTET
//! ```

use alloc::vec::Vec;
use core::fmt;

use smp_proto::coding::{Decode, Encode, Reader};
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};

/// The status of a notification subscription.
///
/// ```text
/// sub-status = "NEW" / "PENDING" / "ACTIVE" / "INACTIVE" / "END" / "DELETED" / "AUTH"
///            / "SERVICE" / "ERR" " " *OCTET   ; ERR takes all remaining bytes
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtfSubStatus {
    /// Created by `SNEW` (`NEW`).
    New,
    /// Waiting for the SMP server connection or subscription (`PENDING`).
    Pending,
    /// Subscribed on the SMP server (`ACTIVE`).
    Active,
    /// Disconnected from or unsubscribed on the SMP server (`INACTIVE`).
    Inactive,
    /// The SMP server sent `END` (`END`).
    End,
    /// The SMP server sent `DELD`: the queue was deleted (`DELETED`).
    Deleted,
    /// The SMP server answered `AUTH` (`AUTH`).
    Auth,
    /// The SMP server rejected the service signature on individual subscriptions (`SERVICE`).
    Service,
    /// Another SMP error, as text (`ERR <text>`).
    Err(Vec<u8>),
}

impl NtfSubStatus {
    /// Whether the server should (re)subscribe a subscription in this status
    /// (`ntfShouldSubscribe`).
    pub const fn should_subscribe(&self) -> bool {
        matches!(
            self,
            Self::New | Self::Pending | Self::Active | Self::Inactive | Self::Service
        )
    }

    /// The keyword (`ERR` for [`NtfSubStatus::Err`]).
    pub const fn keyword(&self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
            Self::End => "END",
            Self::Deleted => "DELETED",
            Self::Auth => "AUTH",
            Self::Service => "SERVICE",
            Self::Err(_) => "ERR",
        }
    }

    /// Parses a wire text that must span the whole input (as in the JSON forms).
    ///
    /// # Errors
    /// As [`Decode::decode`], or `TrailingBytes`.
    pub fn from_text(text: &[u8]) -> DecodeResult<Self> {
        Self::decode_exact(text)
    }
}

impl fmt::Display for NtfSubStatus {
    /// The wire text (an `ERR` payload that is not UTF-8 is shown lossily).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        if let Self::Err(e) = self {
            f.write_str(" ")?;
            for chunk in e.utf8_chunks() {
                f.write_str(chunk.valid())?;
                if !chunk.invalid().is_empty() {
                    f.write_str("\u{fffd}")?;
                }
            }
        }
        Ok(())
    }
}

impl Encode for NtfSubStatus {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.keyword().as_bytes());
        if let Self::Err(e) = self {
            out.push(b' ');
            out.extend_from_slice(e);
        }
    }
}

impl<'a> Decode<'a> for NtfSubStatus {
    /// The keyword runs to the next space; `ERR` then takes a space and all remaining bytes.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let word = r.take_till(|b| b == b' ');
        Ok(match word {
            b"NEW" => Self::New,
            b"PENDING" => Self::Pending,
            b"ACTIVE" => Self::Active,
            b"INACTIVE" => Self::Inactive,
            b"END" => Self::End,
            b"DELETED" => Self::Deleted,
            b"AUTH" => Self::Auth,
            b"SERVICE" => Self::Service,
            b"ERR" => {
                r.space()?;
                Self::Err(r.rest().into())
            }
            _ => {
                return Err(DecodeError::new(
                    DecodeErrorKind::BadValue,
                    at,
                    "subscription status",
                ))
            }
        })
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON form: the wire text as a string (`"ACTIVE"`, `"ERR some text"`).
    use super::*;
    use alloc::string::String;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for NtfSubStatus {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for NtfSubStatus {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            NtfSubStatus::from_text(s.as_bytes()).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sub_status_text() {
        for (s, v) in [
            (&b"NEW"[..], NtfSubStatus::New),
            (b"PENDING", NtfSubStatus::Pending),
            (b"ACTIVE", NtfSubStatus::Active),
            (b"INACTIVE", NtfSubStatus::Inactive),
            (b"END", NtfSubStatus::End),
            (b"DELETED", NtfSubStatus::Deleted),
            (b"AUTH", NtfSubStatus::Auth),
            (b"SERVICE", NtfSubStatus::Service),
            (b"ERR a b c", NtfSubStatus::Err(b"a b c".to_vec())),
            (b"ERR ", NtfSubStatus::Err(alloc::vec![])),
        ] {
            assert_eq!(NtfSubStatus::decode_exact(s).unwrap(), v);
            assert_eq!(v.to_bytes(), s);
        }
    }

    #[test]
    fn rejects_bad_sub_status() {
        // ntf/response/invalid/SUB_unknown/p carries "FOO"
        assert_eq!(
            NtfSubStatus::decode_exact(b"FOO").unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
        assert_eq!(
            NtfSubStatus::decode_exact(b"ERR").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        assert_eq!(
            NtfSubStatus::decode_exact(b"ACTIVE ").unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
    }

    #[test]
    fn should_subscribe() {
        use NtfSubStatus::*;
        let all = [
            New,
            Pending,
            Active,
            Inactive,
            End,
            Deleted,
            Auth,
            Service,
            Err(alloc::vec![]),
        ];
        let v: alloc::vec::Vec<bool> = all.iter().map(NtfSubStatus::should_subscribe).collect();
        assert_eq!(
            v,
            [true, true, true, true, false, false, false, true, false]
        );
    }

    pub(crate) fn sub_status() -> impl Strategy<Value = NtfSubStatus> {
        prop_oneof![
            Just(NtfSubStatus::New),
            Just(NtfSubStatus::Pending),
            Just(NtfSubStatus::Active),
            Just(NtfSubStatus::Inactive),
            Just(NtfSubStatus::End),
            Just(NtfSubStatus::Deleted),
            Just(NtfSubStatus::Auth),
            Just(NtfSubStatus::Service),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(NtfSubStatus::Err),
        ]
    }

    proptest! {
        #[test]
        fn sub_status_round_trip(s in sub_status()) {
            prop_assert_eq!(NtfSubStatus::decode_exact(&s.to_bytes()).unwrap(), s);
        }
    }
}
