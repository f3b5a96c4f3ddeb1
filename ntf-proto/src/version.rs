//! NTF protocol versions and the transport constants that go with them.
//!
//! ```text
//! v1  initial version
//! v2  authenticated, batched commands: the session id is implied (not sent) and a block
//!     may carry several transmissions
//! v3  the token status INVALID carries its reason (TKN INVALID,<reason>)
//! ```
//!
//! Versions travel as `word16` and ranges as `min max` (see [`smp_proto::version`]).

pub use smp_proto::version::{Version, VersionRange};

/// v1: the first NTF version.
pub const INITIAL: Version = Version(1);
/// v2: authenticated batched commands (implied session id, several transmissions per block).
pub const AUTH_BATCH_CMDS: Version = Version(2);
/// v3: `TKN INVALID` carries the reason.
pub const INVALID_REASON: Version = Version(3);
/// The newest version, spoken by both the reference client and server.
pub const CURRENT: Version = Version(3);

const fn range(min: Version, max: Version) -> VersionRange {
    match VersionRange::new(min, max) {
        Some(r) => r,
        None => panic!("version range with min > max"),
    }
}

/// Versions the reference client and server support (1-3).
pub const SUPPORTED: VersionRange = range(INITIAL, CURRENT);
/// What a server offers a client that did not negotiate ALPN [`ALPN`] (v1 only).
pub const LEGACY_SERVER: VersionRange = VersionRange::single(INITIAL);
/// NTF transport block size in bytes.
pub const BLOCK_SIZE: usize = 512;
/// ALPN protocol name of the current NTF handshake.
pub const ALPN: &[u8] = b"ntf/1";

/// Whether transmissions at version `v` imply the session id and may be batched (v2+).
pub fn implies_session_id(v: Version) -> bool {
    v >= AUTH_BATCH_CMDS
}

/// Whether `TKN INVALID` carries its reason at version `v` (v3+).
pub fn sends_invalid_reason(v: Version) -> bool {
    v >= INVALID_REASON
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(SUPPORTED.min(), Version(1));
        assert_eq!(SUPPORTED.max(), Version(3));
        assert_eq!(LEGACY_SERVER.min(), Version(1));
        assert_eq!(LEGACY_SERVER.max(), Version(1));
        assert!(!implies_session_id(Version(1)));
        assert!(implies_session_id(Version(2)));
        assert!(!sends_invalid_reason(Version(2)));
        assert!(sends_invalid_reason(Version(3)));
        assert_eq!(BLOCK_SIZE, 512);
        assert_eq!(ALPN, b"ntf/1");
    }
}
