//! The receive paths the benchmarks measure, as a server runs them, from the codecs' public API.
//!
//! Everything here borrows the input: blocks are split into slices, transmissions are
//! [`RawTransmission`]s over them, `NMSG` is parsed as [`NmsgRef`]. The block paths allocate
//! nothing (the `no_alloc` test checks it); the authorization path reuses the caller's buffer
//! for the authorized bytes.

use smp_proto::block::{decode_block, NTF_BLOCK_SIZE, SMP_BLOCK_SIZE};
use smp_proto::broker::NmsgRef;
use smp_proto::crypto::verify_authorization;
use smp_proto::error::DecodeError;
use smp_proto::error_type::TransportError;
use smp_proto::keys::PublicKey;
use smp_proto::transmission::{RawTransmission, TransmissionParams};
use smp_proto::version::Version;

use ntf_proto::command::NtfCommand;

/// A failure on a receive path: a decoding error or a transport check that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotError {
    /// The block, a transmission or a command did not decode.
    Decode(DecodeError),
    /// A transmission failed the receiver's checks (session id, authorization length).
    Transport(TransportError),
}

impl core::fmt::Display for HotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "decode: {e:?}"),
            Self::Transport(e) => write!(f, "transport: {e:?}"),
        }
    }
}

impl std::error::Error for HotError {}

impl From<DecodeError> for HotError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<TransportError> for HotError {
    fn from(e: TransportError) -> Self {
        Self::Transport(e)
    }
}

/// What a decoded SMP block held (so the work is observable and cannot be optimised away).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NmsgBlockSummary {
    /// Transmissions in the block.
    pub transmissions: usize,
    /// Of them, `NMSG` messages.
    pub nmsg: usize,
    /// Total length of the encrypted metadata of the `NMSG`s.
    pub meta_bytes: usize,
    /// XOR of the first nonce byte and the first entity id byte of every `NMSG`.
    pub check: u8,
}

/// Decodes a 16384-byte SMP block as a notification server receives it from a relay: unpads
/// and splits the batch, parses each transmission with the client's checks (session id), and
/// parses `NMSG` commands borrowed ([`NmsgRef::parse`]). Other messages are counted only.
/// Allocates nothing.
///
/// # Errors
/// [`HotError::Decode`] for a malformed block, transmission or `NMSG`;
/// [`HotError::Transport`] for a foreign session id.
pub fn decode_smp_nmsg_block(
    block: &[u8],
    params: &TransmissionParams<'_>,
) -> Result<NmsgBlockSummary, HotError> {
    let mut s = NmsgBlockSummary::default();
    for t in decode_block(block, SMP_BLOCK_SIZE, true)? {
        let raw = RawTransmission::decode(t, params)?;
        raw.check_client(params)?;
        s.transmissions += 1;
        if let Some(m) = NmsgRef::parse(raw.command)? {
            s.nmsg += 1;
            s.meta_bytes += m.enc_meta.len();
            s.check ^= m.nonce[0] ^ raw.entity_id.first().copied().unwrap_or(0);
        }
    }
    Ok(s)
}

/// What a decoded NTF block held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NtfBlockSummary {
    /// Transmissions in the block.
    pub transmissions: usize,
    /// Of them, authorized ones (a signature or an authenticator).
    pub authorized: usize,
    /// Sum of the command tags' first bytes (observable work).
    pub check: usize,
}

/// Decodes a 512-byte NTF block as the notification server receives it: unpads and splits the
/// batch (v2+), parses each transmission with the server's checks (session id, authorization
/// length) and decodes the command at version `v`. Verification is not included (see
/// [`verify_transmission`]). Allocates nothing for commands without fields.
///
/// # Errors
/// [`HotError::Decode`] for a malformed block, transmission or command,
/// [`HotError::Transport`] when a check fails.
pub fn decode_ntf_block(
    block: &[u8],
    params: &TransmissionParams<'_>,
    v: Version,
) -> Result<NtfBlockSummary, HotError> {
    let mut s = NtfBlockSummary::default();
    let batch = TransmissionParams::ntf_batch(v);
    for t in decode_block(block, NTF_BLOCK_SIZE, batch)? {
        let raw = RawTransmission::decode(t, params)?;
        let auth = raw.check(params)?;
        let cmd = NtfCommand::decode(raw.command, v)?;
        s.transmissions += 1;
        s.authorized += usize::from(auth.is_some());
        s.check += usize::from(cmd.tag().as_str().as_bytes()[0]);
    }
    Ok(s)
}

/// Parses one transmission and verifies its authorization against the entity's key, as the
/// server does before executing a command: parse, the server's checks, the authorized bytes
/// (implied session id + the transmission, written into `buf`), then
/// [`verify_authorization`] (an Ed25519 signature, or an X25519 authenticator opened with the
/// server's session key `server_private`).
///
/// Returns whether the authorization verifies.
///
/// # Errors
/// [`HotError`] when the transmission does not parse or fails the checks.
pub fn verify_transmission(
    transmission: &[u8],
    params: &TransmissionParams<'_>,
    key: &PublicKey,
    server_private: Option<&[u8; 32]>,
    buf: &mut Vec<u8>,
) -> Result<bool, HotError> {
    let raw = RawTransmission::decode(transmission, params)?;
    let auth = raw.check(params)?;
    buf.clear();
    raw.authorized_into(buf);
    Ok(verify_authorization(
        auth.as_ref(),
        key,
        buf,
        raw.corr_id,
        server_private,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{Fixtures, NTF_V};
    use smp_proto::block::Block;

    fn fx() -> Fixtures {
        Fixtures::new().expect("fixtures build")
    }

    #[test]
    fn smp_block_decodes_every_nmsg() {
        let f = fx();
        let s = decode_smp_nmsg_block(&f.smp_block, &f.smp_params()).unwrap();
        assert_eq!(s.transmissions, f.smp_block_count);
        assert_eq!(s.nmsg, f.smp_block_count);
        assert_eq!(s.meta_bytes, 144 * f.smp_block_count);
    }

    #[test]
    fn smp_block_rejects_a_foreign_session_and_a_short_block() {
        let f = fx();
        let other = [7u8; 32];
        // the SMP fixture's session id is implied, so pass explicit-session params instead
        let explicit = TransmissionParams {
            session_id: &other,
            implied_session_id: false,
            service_auth: false,
        };
        assert!(decode_smp_nmsg_block(&f.smp_block, &explicit).is_err());
        assert!(matches!(
            decode_smp_nmsg_block(&f.smp_block[..512], &f.smp_params()),
            Err(HotError::Decode(_))
        ));
    }

    #[test]
    fn ntf_block_decodes_all_commands() {
        let f = fx();
        let s = decode_ntf_block(&f.ntf_block, &f.ntf_params(), NTF_V).unwrap();
        assert_eq!(s.transmissions, 4);
        assert_eq!(s.authorized, 3);
        assert_eq!(
            s.check,
            [b'T', b'S', b'S', b'P']
                .map(usize::from)
                .iter()
                .sum::<usize>()
        );
    }

    #[test]
    fn ntf_block_with_an_unknown_command_fails() {
        let f = fx();
        let mut t = Vec::new();
        smp_proto::transmission::ForAuth::new(&f.ntf_params(), b"c", b"", b"NOPE")
            .encode(false, None, None, &mut t);
        let block = Block {
            transmissions: vec![t],
        }
        .encode(NTF_BLOCK_SIZE, true)
        .unwrap();
        assert!(matches!(
            decode_ntf_block(&block, &f.ntf_params(), NTF_V),
            Err(HotError::Decode(_))
        ));
    }

    #[test]
    fn both_authorizations_verify_and_tampering_fails() {
        let f = fx();
        let p = f.ntf_params();
        let mut buf = Vec::new();
        let ed = PublicKey::Ed25519(f.token_key.public);
        let x = PublicKey::X25519(f.client_auth_key.public);
        let sk = Some(&f.server_session_key.private);
        assert!(verify_transmission(&f.ed25519_transmission, &p, &ed, None, &mut buf).unwrap());
        assert_eq!(buf, f.authorized);
        assert!(verify_transmission(&f.x25519_transmission, &p, &x, sk, &mut buf).unwrap());
        // wrong key type, wrong key, tampered byte, missing session key
        assert!(!verify_transmission(&f.ed25519_transmission, &p, &x, sk, &mut buf).unwrap());
        let other = PublicKey::Ed25519(crate::fixtures::Ed25519Pair::new("other").public);
        assert!(!verify_transmission(&f.ed25519_transmission, &p, &other, None, &mut buf).unwrap());
        let mut t = f.x25519_transmission.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(!verify_transmission(&t, &p, &x, sk, &mut buf).unwrap());
        assert!(!verify_transmission(&f.x25519_transmission, &p, &x, None, &mut buf).unwrap());
    }
}
