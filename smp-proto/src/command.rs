//! SMP commands, the notifier subset: the commands a notification server sends to an SMP relay
//! (`NSUB`, `NSUBS`, `PING`) and the recipient's commands that manage notifier credentials
//! (`NKEY`, `NDEL`).
//!
//! ```text
//! command = "NKEY" SP notifier-key:auth-public-key dh-key:x25519-public-key
//!         / "NDEL" / "NSUB" / "NSUBS" / "PING"
//! tag     = the bytes up to the first space; the rest must be consumed by the tag's fields
//! ```
//!
//! Keys are X.509 DER as short bytes, with no separator between the two keys of `NKEY`.
//! A tag this subset does not know decodes to [`DecodeErrorKind::UnknownTag`].

use alloc::vec::Vec;

use crate::coding::{Decode, Encode, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::error_type::{CommandError, ErrorType};
use crate::keys::{AuthPublicKey, X25519PublicKey};
use crate::version::Version;

/// An SMP command of the notifier subset.
///
/// ```text
/// command = "NKEY" SP auth-public-key x25519-public-key / "NDEL" / "NSUB" / "NSUBS" / "PING"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "tag")
)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SmpCommand {
    /// Recipient: set the notifier key and the recipient's DH key for notifications.
    #[cfg_attr(feature = "serde", serde(rename = "NKEY"))]
    Nkey {
        /// The notifier's key for authorizing `NSUB`.
        notifier_key: AuthPublicKey,
        /// The recipient's DH key for encrypting notification metadata.
        dh_key: X25519PublicKey,
    },
    /// Recipient: delete the notifier credentials.
    #[cfg_attr(feature = "serde", serde(rename = "NDEL"))]
    Ndel,
    /// Notifier: subscribe to notifications of one queue.
    #[cfg_attr(feature = "serde", serde(rename = "NSUB"))]
    Nsub,
    /// Notifier service: subscribe to all associated queues.
    #[cfg_attr(feature = "serde", serde(rename = "NSUBS"))]
    Nsubs,
    /// Keep-alive.
    #[cfg_attr(feature = "serde", serde(rename = "PING"))]
    Ping,
}

impl SmpCommand {
    /// The wire tag.
    pub const fn tag(&self) -> &'static str {
        match self {
            Self::Nkey { .. } => "NKEY",
            Self::Ndel => "NDEL",
            Self::Nsub => "NSUB",
            Self::Nsubs => "NSUBS",
            Self::Ping => "PING",
        }
    }

    /// Appends the command part of a transmission (the same at every version).
    pub fn encode(&self, _v: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_bytes());
        if let Self::Nkey {
            notifier_key,
            dh_key,
        } = self
        {
            out.push(b' ');
            notifier_key.encode(out);
            dh_key.encode(out);
        }
    }

    /// The encoding as a new vector.
    pub fn to_vec(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Decodes the whole command part of a transmission.
    ///
    /// # Errors
    /// `UnknownTag` for a tag outside the subset (the relay answers `CMD UNKNOWN`); any other
    /// error (bad or truncated fields, trailing bytes) means `CMD SYNTAX`.
    pub fn decode(bytes: &[u8], _v: Version) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let tag = r.take_till(|c| c == b' ');
        let cmd = match tag {
            b"NKEY" => {
                r.space()?;
                let notifier_key = AuthPublicKey::decode(&mut r)?;
                let dh_key = X25519PublicKey::decode(&mut r)?;
                Self::Nkey {
                    notifier_key,
                    dh_key,
                }
            }
            b"NDEL" => Self::Ndel,
            b"NSUB" => Self::Nsub,
            b"NSUBS" => Self::Nsubs,
            b"PING" => Self::Ping,
            _ => {
                return Err(DecodeError::new(
                    DecodeErrorKind::UnknownTag,
                    0,
                    "SMP command tag",
                ))
            }
        };
        r.finish()?;
        Ok(cmd)
    }

    /// The relay's credential rules for a received command (`checkCredentials`): `PING` must
    /// carry neither authorization nor entity id (`CMD HAS_AUTH`); the others need both
    /// (`CMD NO_AUTH`).
    ///
    /// # Errors
    /// The `ERR` the relay sends instead of executing the command.
    pub fn check_credentials(&self, has_auth: bool, entity_id: &[u8]) -> Result<(), ErrorType> {
        match self {
            Self::Ping if has_auth || !entity_id.is_empty() => {
                Err(ErrorType::Cmd(CommandError::HasAuth))
            }
            Self::Ping => Ok(()),
            _ if !has_auth || entity_id.is_empty() => Err(ErrorType::Cmd(CommandError::NoAuth)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PublicKey;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const V: Version = crate::version::smp::CURRENT;

    fn key32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    #[test]
    fn decode_nkey() {
        // smp/command/NKEY/ed25519/1
        let b = h("4e4b4559202c302a300506032b65700321002c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc052c302a300506032b656e03210086d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d");
        let c = SmpCommand::decode(&b, V).unwrap();
        let want = SmpCommand::Nkey {
            notifier_key: AuthPublicKey::new(PublicKey::Ed25519(key32(
                "2c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc05",
            )))
            .unwrap(),
            dh_key: X25519PublicKey(key32(
                "86d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d",
            )),
        };
        assert_eq!(c, want);
        assert_eq!(c.to_vec(V), b);
        // smp/command/NKEY/x25519/2
        let b = h("4e4b4559202c302a300506032b656e0321009f8d9b30162cfc9ea639c03636bd93b496a88f62cf20be2f7cb05ce7cc73fc6a2c302a300506032b656e032100157c9a1f8dcd125530a07d9d8f21897f20ff1981312f600ae8a110ef79527522");
        let c = SmpCommand::decode(&b, V).unwrap();
        let want = SmpCommand::Nkey {
            notifier_key: AuthPublicKey::new(PublicKey::X25519(key32(
                "9f8d9b30162cfc9ea639c03636bd93b496a88f62cf20be2f7cb05ce7cc73fc6a",
            )))
            .unwrap(),
            dh_key: X25519PublicKey(key32(
                "157c9a1f8dcd125530a07d9d8f21897f20ff1981312f600ae8a110ef79527522",
            )),
        };
        assert_eq!(c, want);
        assert_eq!(c.to_vec(V), b);
    }

    #[test]
    fn decode_simple_commands() {
        for (hex_in, cmd, v) in [
            ("4e44454c", SmpCommand::Ndel, V),
            ("4e53554253", SmpCommand::Nsubs, V),
            ("4e535542", SmpCommand::Nsub, Version(7)),
            ("4e535542", SmpCommand::Nsub, Version(18)),
        ] {
            assert_eq!(SmpCommand::decode(&h(hex_in), v).unwrap(), cmd);
            assert_eq!(cmd.to_vec(v), h(hex_in));
        }
        assert_eq!(SmpCommand::decode(b"PING", V).unwrap(), SmpCommand::Ping);
    }

    #[test]
    fn rejects_bad_commands() {
        // smp/command/NKEY/ed25519/1/trunc_60
        let e = SmpCommand::decode(&h("4e4b4559202c302a300506032b65700321002c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc052c302a300506032b656e"), V).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Truncated);
        // smp/command/invalid/NKEY_space_only
        assert!(SmpCommand::decode(&h("4e4b455920"), V).is_err());
        // smp/command/invalid/NKEY_no_space
        let e = SmpCommand::decode(&h("4e4b45592c302a300506032b6570032100e04d171694b2ee5017908fed4ffa911ec58726dd1d941cf004084024be359e3c2c302a300506032b656e032100a3f7807799d616922217ec1ad3dd4676affebe601f2c725440393ecff357fd48"), V).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownTag);
        assert_eq!(
            SmpCommand::decode(b"NSUB ", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            SmpCommand::decode(b"SUB", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            SmpCommand::decode(b"", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
    }

    #[test]
    fn credentials() {
        let nsub = SmpCommand::Nsub;
        assert_eq!(nsub.check_credentials(true, b"id"), Ok(()));
        assert_eq!(
            nsub.check_credentials(false, b"id"),
            Err(ErrorType::Cmd(CommandError::NoAuth))
        );
        assert_eq!(
            nsub.check_credentials(true, b""),
            Err(ErrorType::Cmd(CommandError::NoAuth))
        );
        assert_eq!(
            SmpCommand::Nsubs.check_credentials(true, b""),
            Err(ErrorType::Cmd(CommandError::NoAuth))
        );
        assert_eq!(SmpCommand::Ping.check_credentials(false, b""), Ok(()));
        assert_eq!(
            SmpCommand::Ping.check_credentials(true, b""),
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
        assert_eq!(
            SmpCommand::Ping.check_credentials(false, b"x"),
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn command_json() {
        let j = serde_json::json!({"dh_key": {"alg": "x25519", "public": "86d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d"}, "notifier_key": {"alg": "ed25519", "public": "2c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc05"}, "tag": "NKEY"});
        let c: SmpCommand = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), j);
        assert_eq!(
            serde_json::to_value(SmpCommand::Nsubs).unwrap(),
            serde_json::json!({"tag": "NSUBS"})
        );
        assert_eq!(
            serde_json::from_value::<SmpCommand>(serde_json::json!({"tag": "PING"})).unwrap(),
            SmpCommand::Ping
        );
    }

    #[cfg(feature = "arbitrary")]
    proptest::proptest! {
        #[test]
        fn command_round_trips(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            use arbitrary::{Arbitrary, Unstructured};
            if let Ok(c) = SmpCommand::arbitrary(&mut Unstructured::new(&data)) {
                proptest::prop_assert_eq!(SmpCommand::decode(&c.to_vec(V), V).unwrap(), c);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let _ = SmpCommand::decode(&data, V);
        }
    }
}
