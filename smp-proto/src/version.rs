//! Protocol versions, version ranges and their negotiation (the reference's `Version` module),
//! and the SMP version constants.
//!
//! ```text
//! version       = word16
//! version-range = min:version max:version   ; min <= max
//! ```
//!
//! The negotiation functions are pure: the transport layer calls them with the ranges from the
//! two handshake messages.

use alloc::vec::Vec;

use crate::coding::{put_u16, Decode, Encode, Reader};
use crate::error::{DecodeErrorKind, DecodeResult};

/// A protocol version number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Version(pub u16);

impl Encode for Version {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u16(out, self.0);
    }
}

impl<'a> Decode<'a> for Version {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        r.u16("version").map(Version)
    }
}

/// An inclusive range of versions, `min <= max` by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionRange {
    min: Version,
    max: Version,
}

impl VersionRange {
    /// A range, or `None` when `min > max`.
    pub const fn new(min: Version, max: Version) -> Option<Self> {
        if min.0 <= max.0 {
            Some(Self { min, max })
        } else {
            None
        }
    }

    /// The range of one version.
    pub const fn single(v: Version) -> Self {
        Self { min: v, max: v }
    }

    /// Lowest version.
    pub const fn min(&self) -> Version {
        self.min
    }

    /// Highest version.
    pub const fn max(&self) -> Version {
        self.max
    }

    /// Whether `v` is in the range (`isCompatible`).
    pub fn contains(&self, v: Version) -> bool {
        self.min <= v && v <= self.max
    }

    /// The highest version both ranges share, if they overlap (`compatibleVersion`).
    pub fn compatible_version(&self, other: &VersionRange) -> Option<Version> {
        self.intersect(other).map(|r| r.max)
    }

    /// The intersection of two ranges (`compatibleVRange`).
    pub fn intersect(&self, other: &VersionRange) -> Option<VersionRange> {
        VersionRange::new(self.min.max(other.min), self.max.min(other.max))
    }

    /// This range capped at `v` (`compatibleVRange'`): `None` when `v` is above the maximum or
    /// below the minimum. The server uses it with the version the client chose.
    pub fn capped_at(&self, v: Version) -> Option<VersionRange> {
        if v <= self.max {
            VersionRange::new(self.min, v)
        } else {
            None
        }
    }
}

impl Encode for VersionRange {
    fn encode(&self, out: &mut Vec<u8>) {
        self.min.encode(out);
        self.max.encode(out);
    }
}

impl<'a> Decode<'a> for VersionRange {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let min = Version::decode(r)?;
        let max = Version::decode(r)?;
        VersionRange::new(min, max)
            .ok_or(crate::error::DecodeError::new(DecodeErrorKind::BadVersion, at, "version range with min <= max"))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for VersionRange {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let a = u16::arbitrary(u)?;
        let b = u16::arbitrary(u)?;
        Ok(VersionRange { min: Version(a.min(b)), max: Version(a.max(b)) })
    }
}

/// SMP protocol versions that change the encodings in this crate.
pub mod smp {
    use super::{Version, VersionRange};

    /// v6: the oldest version the reference still speaks.
    pub const MIN: Version = Version(6);
    /// v7: authenticated commands (X25519 authenticators); session id implied, not sent.
    pub const AUTH_CMDS: Version = Version(7);
    /// v8: sending proxy.
    pub const SENDING_PROXY: Version = Version(8);
    /// v9: sender can secure the queue (SKEY).
    pub const SND_AUTH_KEY: Version = Version(9);
    /// v10: `DELD` event (older clients get `END`).
    pub const DELETED_EVENT: Version = Version(10);
    /// v11: transport block encryption.
    pub const ENCRYPTED_BLOCK: Version = Version(11);
    /// v12: `BLOCKED` error (older clients get `AUTH`).
    pub const BLOCKED_ENTITY: Version = Version(12);
    /// v14: `proxyServer` flag in the client handshake.
    pub const PROXY_SERVER_HANDSHAKE: Version = Version(14);
    /// v15: short links.
    pub const SHORT_LINKS: Version = Version(15);
    /// v16: service certificates; service signature field in transmissions.
    pub const SERVICE_CERTS: Version = Version(16);
    /// v17: notifier credentials in NEW.
    pub const NEW_NTF_CREDS: Version = Version(17);
    /// v18: client notices (`BLOCKED` carries its notice).
    pub const CLIENT_NOTICES: Version = Version(18);
    /// The newest version.
    pub const CURRENT: Version = Version(18);
    /// Versions the reference server supports (6-18).
    pub const SUPPORTED: VersionRange = VersionRange { min: MIN, max: CURRENT };
    /// What a server offers a client that did not negotiate ALPN `smp/1` (v6 only).
    pub const LEGACY_SERVER: VersionRange = VersionRange { min: MIN, max: MIN };
    /// SMP transport block size.
    pub const BLOCK_SIZE: usize = 16384;
    /// ALPN protocol name.
    pub const ALPN: &[u8] = b"smp/1";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_range_rejects_reversed() {
        assert_eq!(VersionRange::decode_exact(&[0, 1, 0, 3]).unwrap(), VersionRange::new(Version(1), Version(3)).unwrap());
        assert_eq!(VersionRange::decode_exact(&[0, 3, 0, 1]).unwrap_err().kind, DecodeErrorKind::BadVersion);
    }

    #[test]
    fn negotiation() {
        let server = VersionRange::new(Version(1), Version(3)).unwrap();
        let client = VersionRange::new(Version(2), Version(5)).unwrap();
        assert_eq!(server.compatible_version(&client), Some(Version(3)));
        assert_eq!(server.intersect(&client), VersionRange::new(Version(2), Version(3)));
        let old = VersionRange::single(Version(1));
        assert_eq!(old.compatible_version(&client), None);
        assert_eq!(server.capped_at(Version(2)), VersionRange::new(Version(1), Version(2)));
        assert_eq!(server.capped_at(Version(4)), None);
        assert_eq!(server.capped_at(Version(0)), None);
    }
}
