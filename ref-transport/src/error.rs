//! The transport error: IO, TLS, certificate and protocol failures of a connection.

use smp_proto::block::TransportError;

/// A failure of the TLS transport, a handshake or block IO.
///
/// [`Error::Transport`] carries the protocol's transport error (`BLOCK`, `LARGE_MSG`, `SESSION`,
/// `VERSION`, `HANDSHAKE ...`); the others are local failures that end the connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket error.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// An OpenSSL error while configuring TLS or building certificates.
    #[error("openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// The TLS handshake failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The server's certificate chain was rejected (length, identity or signature).
    #[error("certificate: {0}")]
    Certificate(&'static str),
    /// Server credentials could not be loaded or saved.
    #[error("credentials: {0}")]
    Credentials(String),
    /// A protocol transport error.
    #[error("transport error {0:?}")]
    Transport(TransportError),
    /// The peer closed the connection (end of stream, possibly in the middle of a block).
    #[error("connection closed")]
    Closed,
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Self::Transport(e)
    }
}

impl Error {
    /// The protocol transport error, if this is one.
    pub fn transport(&self) -> Option<TransportError> {
        match self {
            Self::Transport(e) => Some(*e),
            _ => None,
        }
    }
}

impl From<openssl::ssl::Error> for Error {
    fn from(e: openssl::ssl::Error) -> Self {
        match e.into_io_error() {
            Ok(io) => Self::Io(io),
            Err(e) => Self::Tls(e.to_string()),
        }
    }
}
