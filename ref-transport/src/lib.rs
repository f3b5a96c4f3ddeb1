//! tokio TLS transport shared by the reference NTF server and client (and the SMP client of the
//! notification server): TLS 1.3 with `tls-unique` session ids, server credentials, fixed-size
//! blocks, and the NTF and SMP handshakes.
//!
//! Layers, bottom up:
//! - [`credentials`]: the offline CA and online server certificates (Ed448 or Ed25519), PEM
//!   files, the key hash;
//! - [`signing`]: signing the handshakes' session keys and verifying them (Ed448 through
//!   OpenSSL, which the codecs lack);
//! - [`tls`]: the TLS profile, ALPN, `tls-unique`, and the client's check of the server chain
//!   against the key hash;
//! - [`block`]: reading and writing padded (or, SMP v11+, encrypted) blocks and batches;
//! - [`ntf`], [`smp`]: the handshake drivers, which return a session with a block reader and
//!   writer that can be used from different tasks.
//!
//! The codecs are [`smp_proto`] and [`ntf_proto`]; this crate only moves bytes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod block;
pub mod credentials;
mod error;
pub mod ntf;
pub mod signing;
pub mod smp;
pub mod tls;

pub use block::{BlockContent, BlockReader, BlockWriter};
pub use credentials::{CaCredentials, ServerCredentials};
pub use error::Error;
pub use ntf::{ntf_client_handshake, ntf_server_handshake, NtfSession};
pub use signing::{OpenSslVerifier, SignAlgorithm};
pub use smp::{
    smp_client_handshake, smp_client_handshake_service, smp_server_handshake,
    smp_server_handshake_services, SessionService, SmpServiceCredentials, SmpSession,
};
pub use tls::{
    validate_client_chain, validate_server_chain, TlsClientConfig, TlsInfo, TlsServerConfig, TlsStream};

/// `N` random bytes from OpenSSL's CSPRNG (session keys, correlation ids).
///
/// # Errors
/// [`Error::OpenSsl`] when the generator fails.
pub fn random_array<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    openssl::rand::rand_bytes(&mut b)?;
    Ok(b)
}
