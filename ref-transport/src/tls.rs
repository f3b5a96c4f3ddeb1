//! TLS 1.3 for the servers and clients: the profile, ALPN, `tls-unique`, and the client's check
//! of the server's certificate chain against the key hash.
//!
//! Profile (both sides): TLS 1.3 only, cipher suite TLS_CHACHA20_POLY1305_SHA256, groups X25519
//! and X448, signature schemes Ed25519 and Ed448, no session tickets, no session cache, no
//! renegotiation. The reference also accepts TLS 1.2 with ECDHE-ECDSA-CHACHA20-POLY1305; that
//! is not offered here.
//!
//! The session id of the protocols is `tls-unique`: the first Finished message of the
//! handshake, which in TLS 1.3 is the client's (server: `SSL_get_peer_finished`, client:
//! `SSL_get_finished`).

use std::pin::Pin;

use openssl::ssl::{
    self, AlpnError, SslAcceptor, SslConnector, SslMethod, SslOptions, SslSessionCacheMode,
    SslVerifyMode, SslVersion,
};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509StoreContext, X509};
use smp_proto::crypto::{Certificate, SignedKey};
use smp_proto::handshake::{chain_id_ca_certs, ChainCertificates};
use smp_proto::keys::PublicKey;
use smp_proto::server::KeyHash;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use crate::credentials::ServerCredentials;
use crate::Error;

/// The only TLS 1.3 cipher suite.
pub const CIPHER_SUITE: &str = "TLS_CHACHA20_POLY1305_SHA256";
/// Key exchange groups, in order of preference (the reference lists X448 first; a client
/// here sends its key share for X25519).
pub const GROUPS: &str = "X25519:X448";
/// Signature schemes.
pub const SIGNATURE_ALGORITHMS: &str = "ed448:ed25519";

/// Encodes ALPN protocol names in the wire form (length-prefixed).
fn alpn_wire(protocols: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in protocols {
        v.push(p.len() as u8);
        v.extend_from_slice(p);
    }
    v
}

/// What a finished TLS handshake established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `tls-unique`: the client's Finished message; the protocol's session id.
    pub session_id: Vec<u8>,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The peer's certificate chain, leaf first (client side: the server's chain; server
    /// side: the client's certificate chain when the server asks for one, else empty).
    pub peer_chain: Vec<Certificate>,
}

impl TlsInfo {
    /// The public key of the peer's leaf certificate, which signs the handshake's session key.
    pub fn peer_key(&self) -> Option<PublicKey> {
        self.peer_chain.first().and_then(Certificate::public_key)
    }
}

/// A TLS connection after the handshake.
#[derive(Debug)]
pub struct TlsStream<S> {
    /// The encrypted stream.
    pub stream: SslStream<S>,
    /// Session id, ALPN and peer chain.
    pub info: TlsInfo,
}

/// The server side: credentials and the TLS configuration built from them.
#[derive(Clone)]
pub struct TlsServerConfig {
    acceptor: SslAcceptor,
    credentials: ServerCredentials,
    chain: Vec<Certificate>,
    ask_client_cert: bool,
}

impl std::fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsServerConfig({:?})", self.credentials)
    }
}

impl TlsServerConfig {
    /// A server configuration presenting the chain (leaf, CA) of `credentials` and selecting
    /// the first of `alpn` (in the server's order) that the client offers; with no match no
    /// ALPN is negotiated.
    ///
    /// # Errors
    /// [`Error::OpenSsl`] or [`Error::Credentials`].
    pub fn new(credentials: &ServerCredentials, alpn: &[&[u8]]) -> Result<Self, Error> {
        Self::build(credentials, alpn, false)
    }

    /// As [`TlsServerConfig::new`], also asking the client for a certificate, as an SMP relay
    /// accepting service clients does (the reference's `askClientCert`,
    /// `accept_service_credentials = on` by default). A client may send none; a chain it
    /// sends is checked by [`validate_client_chain`] after the handshake and, when accepted,
    /// is [`TlsInfo::peer_chain`].
    ///
    /// # Errors
    /// As [`TlsServerConfig::new`].
    pub fn with_client_certificates(
        credentials: &ServerCredentials,
        alpn: &[&[u8]],
    ) -> Result<Self, Error> {
        Self::build(credentials, alpn, true)
    }

    fn build(
        credentials: &ServerCredentials,
        alpn: &[&[u8]],
        ask_client_cert: bool,
    ) -> Result<Self, Error> {
        let mut b = SslAcceptor::mozilla_modern_v5(SslMethod::tls_server())?;
        b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
        b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
        b.set_ciphersuites(CIPHER_SUITE)?;
        b.set_groups_list(GROUPS)?;
        b.set_sigalgs_list(SIGNATURE_ALGORITHMS)?;
        b.set_options(SslOptions::NO_TICKET | SslOptions::NO_RENEGOTIATION);
        b.set_num_tickets(0)?;
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        if ask_client_cert {
            // OpenSSL only collects the chain; it is checked after the handshake
            // (validate_client_chain), with its own CA as the trust anchor
            b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        } else {
            b.set_verify(SslVerifyMode::NONE);
        }
        b.set_certificate(credentials.cert())?;
        b.add_extra_chain_cert(credentials.ca_cert().clone())?;
        b.set_private_key(credentials.key())?;
        b.check_private_key()?;
        let server_alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        b.set_alpn_select_callback(move |_ssl, client| {
            let offered = parse_alpn(client);
            server_alpn
                .iter()
                .find_map(|p| offered.iter().find(|c| **c == p.as_slice()).copied())
                .ok_or(AlpnError::NOACK)
        });
        Ok(Self {
            acceptor: b.build(),
            chain: credentials.chain()?,
            credentials: credentials.clone(),
            ask_client_cert,
        })
    }

    /// The server identity (SHA-256 of the CA certificate).
    pub fn key_hash(&self) -> KeyHash {
        self.credentials.key_hash()
    }

    /// The chain presented in TLS (leaf, CA).
    pub fn cert_chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// Signs a handshake's session key with the leaf key (Ed25519 or Ed448).
    ///
    /// # Errors
    /// [`Error::OpenSsl`] when signing fails.
    pub fn sign_key(&self, key: &PublicKey) -> Result<SignedKey, Error> {
        self.credentials.sign_key(key)
    }

    /// Runs the server side of the TLS handshake on an accepted stream.
    ///
    /// # Errors
    /// [`Error::Tls`] or [`Error::Io`] when the handshake fails; [`Error::Certificate`] when
    /// client certificates are asked for and the client's chain is rejected (the connection
    /// is then dropped before any protocol data).
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
    ) -> Result<TlsStream<S>, Error> {
        let ssl = ssl::Ssl::new(self.acceptor.context())?;
        let mut s = SslStream::new(ssl, stream)?;
        Pin::new(&mut s).accept().await?;
        let mut buf = [0u8; 64];
        let n = s.ssl().peer_finished(&mut buf).min(buf.len());
        if n == 0 {
            return Err(Error::Tls("no Finished message (tls-unique)".into()));
        }
        let peer_chain = if self.ask_client_cert {
            // the server side's peer_cert_chain has no leaf: it is peer_certificate
            let mut chain: Vec<X509> = s.ssl().peer_certificate().into_iter().collect();
            if let Some(st) = s.ssl().peer_cert_chain() {
                chain.extend(st.iter().map(|c| c.to_owned()));
            }
            validate_client_chain(&chain)?
        } else {
            Vec::new()
        };
        let info = TlsInfo {
            session_id: buf[..n].to_vec(),
            alpn: s.ssl().selected_alpn_protocol().map(<[u8]>::to_vec),
            peer_chain,
        };
        Ok(TlsStream { stream: s, info })
    }
}

/// Splits the ALPN wire list into names; a malformed tail is ignored.
fn parse_alpn(mut wire: &[u8]) -> Vec<&[u8]> {
    let mut v = Vec::new();
    while let Some((&n, rest)) = wire.split_first() {
        let Some(p) = rest.get(..n as usize) else {
            break;
        };
        v.push(p);
        wire = &rest[n as usize..];
    }
    v
}

/// The client side: the TLS configuration and the ALPN names to offer.
#[derive(Clone)]
pub struct TlsClientConfig {
    connector: SslConnector,
}

impl std::fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClientConfig(..)")
    }
}

impl TlsClientConfig {
    /// A client configuration offering the `alpn` names (none when empty). The system trust
    /// store is not used: the server is authenticated by its key hash ([`validate_server_chain`]).
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn new(alpn: &[&[u8]]) -> Result<Self, Error> {
        Self::build(alpn, None)
    }

    /// As [`TlsClientConfig::new`], presenting the chain (leaf, CA) of `credentials` as the
    /// client certificate when the server asks for one: a service client (the reference's
    /// `clientCredentials = serviceCreds`; a notification server uses its own TLS
    /// credentials).
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn with_client_certificate(
        alpn: &[&[u8]],
        credentials: &ServerCredentials,
    ) -> Result<Self, Error> {
        Self::build(alpn, Some(credentials))
    }

    fn build(alpn: &[&[u8]], client_cert: Option<&ServerCredentials>) -> Result<Self, Error> {
        let mut b = SslConnector::builder(SslMethod::tls_client())?;
        b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
        b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
        b.set_ciphersuites(CIPHER_SUITE)?;
        b.set_groups_list(GROUPS)?;
        b.set_sigalgs_list(SIGNATURE_ALGORITHMS)?;
        b.set_options(SslOptions::NO_TICKET | SslOptions::NO_RENEGOTIATION);
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        // the chain is checked against the key hash after the handshake, not against a store
        b.set_verify(SslVerifyMode::NONE);
        if !alpn.is_empty() {
            b.set_alpn_protos(&alpn_wire(alpn))?;
        }
        if let Some(c) = client_cert {
            b.set_certificate(c.cert())?;
            b.add_extra_chain_cert(c.ca_cert().clone())?;
            b.set_private_key(c.key())?;
            b.check_private_key()?;
        }
        Ok(Self {
            connector: b.build(),
        })
    }

    /// Runs the client side of the TLS handshake and checks the server's chain against
    /// `key_hash` ([`validate_server_chain`]). No SNI is sent, as the reference's default.
    ///
    /// # Errors
    /// [`Error::Tls`] or [`Error::Io`] when the handshake fails, [`Error::Certificate`] when the
    /// chain is rejected (the connection is then dropped before any protocol data).
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        key_hash: &KeyHash,
    ) -> Result<TlsStream<S>, Error> {
        let mut cfg = self.connector.configure()?;
        cfg.set_use_server_name_indication(false);
        cfg.set_verify_hostname(false);
        let ssl = cfg.into_ssl("")?;
        let mut s = SslStream::new(ssl, stream)?;
        Pin::new(&mut s).connect().await?;
        let chain: Vec<X509> = s
            .ssl()
            .peer_cert_chain()
            .map(|st| st.iter().map(|c| c.to_owned()).collect())
            .unwrap_or_default();
        let peer_chain = validate_server_chain(&chain, key_hash.as_bytes())?;
        let mut buf = [0u8; 64];
        let n = s.ssl().finished(&mut buf).min(buf.len());
        if n == 0 {
            return Err(Error::Tls("no Finished message (tls-unique)".into()));
        }
        let info = TlsInfo {
            session_id: buf[..n].to_vec(),
            alpn: s.ssl().selected_alpn_protocol().map(<[u8]>::to_vec),
            peer_chain,
        };
        Ok(TlsStream { stream: s, info })
    }
}

/// The relay's check of a client's certificate chain (the reference's
/// `validateClientCertificate`): an empty chain is accepted (not a service client); a single
/// certificate must verify as self-signed; a chain of 2-4 (`[leaf, id]`, `[leaf, id, ca]`,
/// `[leaf, id, _, ca]`) must verify with its last certificate as the only trust anchor
/// (signatures, validity periods, CA constraints; no host name); a longer one is rejected.
///
/// # Errors
/// [`Error::Certificate`] naming the failed check.
pub fn validate_client_chain(chain: &[X509]) -> Result<Vec<Certificate>, Error> {
    let certs = parse_chain(chain)?;
    match chain_id_ca_certs(&certs) {
        ChainCertificates::Empty => return Ok(certs),
        ChainCertificates::Long => return Err(Error::Certificate("chain too long")),
        ChainCertificates::SelfSigned(_) | ChainCertificates::Valid { .. } => {}
    }
    if verify_with_anchor(chain, chain.len() - 1) {
        Ok(certs)
    } else {
        Err(Error::Certificate("chain does not verify"))
    }
}

fn parse_chain(chain: &[X509]) -> Result<Vec<Certificate>, Error> {
    chain
        .iter()
        .map(|c| {
            c.to_der()
                .ok()
                .and_then(|d| Certificate::from_der(&d).ok())
                .ok_or(Error::Certificate("certificate does not parse"))
        })
        .collect()
}

/// Whether `chain[0]` verifies through `chain[1..]` with `chain[anchor]` as the only trust
/// anchor.
fn verify_with_anchor(chain: &[X509], anchor: usize) -> bool {
    let verified = (|| -> Result<bool, openssl::error::ErrorStack> {
        let mut store = X509StoreBuilder::new()?;
        store.add_cert(chain[anchor].clone())?;
        let store = store.build();
        let mut untrusted = Stack::new()?;
        for c in &chain[1..] {
            untrusted.push(c.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        ctx.init(&store, &chain[0], &untrusted, |c| c.verify_cert())
    })();
    matches!(verified, Ok(true))
}

/// The client's check of the server's chain (the reference's `validateCertificateChain`).
///
/// The chain (leaf first) must have 2 to 4 certificates: `[leaf, id]`, `[leaf, id, ca]` or
/// `[leaf, id, _, ca]` (an empty chain or a single self-signed certificate is rejected, as is a
/// longer chain); the identity certificate's SHA-256 fingerprint must equal `key_hash`; and the
/// chain must verify with the CA certificate as the only trust anchor (signatures, validity
/// periods, CA constraints; no host name check).
///
/// # Errors
/// [`Error::Certificate`] naming the failed check.
pub fn validate_server_chain(chain: &[X509], key_hash: &[u8]) -> Result<Vec<Certificate>, Error> {
    let certs = parse_chain(chain)?;
    let ca_index = match chain_id_ca_certs(&certs) {
        ChainCertificates::Empty | ChainCertificates::SelfSigned(_) => {
            return Err(Error::Certificate("empty chain"))
        }
        ChainCertificates::Long => return Err(Error::Certificate("chain too long")),
        ChainCertificates::Valid { id, .. } => {
            if id.fingerprint()[..] != *key_hash {
                return Err(Error::Certificate("unknown CA: key hash mismatch"));
            }
            certs.len() - 1
        }
    };
    if verify_with_anchor(chain, ca_index) {
        Ok(certs)
    } else {
        Err(Error::Certificate("chain does not verify"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_lists() {
        let w = alpn_wire(&[b"ntf/1", b"smp/1"]);
        assert_eq!(w, b"\x05ntf/1\x05smp/1");
        assert_eq!(parse_alpn(&w), vec![&b"ntf/1"[..], b"smp/1"]);
        assert_eq!(parse_alpn(b"\x05ntf/1\x09x"), vec![&b"ntf/1"[..]]);
    }

    #[test]
    fn chain_checks() {
        let (_, s) = ServerCredentials::generate("localhost").unwrap();
        let kh = s.key_hash();
        let leaf = s.cert().clone();
        let ca = s.ca_cert().clone();
        assert!(validate_server_chain(&[leaf.clone(), ca.clone()], kh.as_bytes()).is_ok());
        // the same chain with another CA as the identity
        let (_, other) = ServerCredentials::generate("localhost").unwrap();
        assert!(matches!(
            validate_server_chain(&[leaf.clone(), ca.clone()], other.key_hash().as_bytes()),
            Err(Error::Certificate("unknown CA: key hash mismatch"))
        ));
        // a leaf not signed by the identity certificate
        assert!(matches!(
            validate_server_chain(&[other.cert().clone(), ca.clone()], kh.as_bytes()),
            Err(Error::Certificate("chain does not verify"))
        ));
        assert!(matches!(
            validate_server_chain(std::slice::from_ref(&ca), kh.as_bytes()),
            Err(Error::Certificate("empty chain"))
        ));
        assert!(matches!(
            validate_server_chain(&[], kh.as_bytes()),
            Err(Error::Certificate("empty chain"))
        ));
        let long = vec![leaf.clone(), ca.clone(), ca.clone(), ca.clone(), ca.clone()];
        assert!(matches!(
            validate_server_chain(&long, kh.as_bytes()),
            Err(Error::Certificate("chain too long"))
        ));
        // [leaf, id, ca] with id = ca verifies too
        assert!(validate_server_chain(&[leaf, ca.clone(), ca], kh.as_bytes()).is_ok());
    }

    #[test]
    fn client_chain_checks() {
        // validateClientCertificate: empty accepted, self-signed and [leaf, ca] verified
        let (_, s) = ServerCredentials::generate("ntf").unwrap();
        let (_, other) = ServerCredentials::generate("other").unwrap();
        let (leaf, ca) = (s.cert().clone(), s.ca_cert().clone());
        assert_eq!(validate_client_chain(&[]).unwrap(), Vec::new());
        assert_eq!(
            validate_client_chain(&[leaf.clone(), ca.clone()])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            validate_client_chain(std::slice::from_ref(&ca))
                .unwrap()
                .len(),
            1
        );
        // a leaf alone is not self-signed
        assert!(matches!(
            validate_client_chain(std::slice::from_ref(&leaf)),
            Err(Error::Certificate("chain does not verify"))
        ));
        // a leaf with another CA
        assert!(matches!(
            validate_client_chain(&[leaf.clone(), other.ca_cert().clone()]),
            Err(Error::Certificate("chain does not verify"))
        ));
        let long = vec![leaf, ca.clone(), ca.clone(), ca.clone(), ca];
        assert!(matches!(
            validate_client_chain(&long),
            Err(Error::Certificate("chain too long"))
        ));
    }
}
