//! The SMP transport handshake: server hello, client hello, the server's answer to a service
//! client, and the pure version/identity negotiation of both sides.
//!
//! ```text
//! server-hello   = version-range session-id:short-bytes [cert-chain-key] ; key only if max >= 7, optional
//! cert-chain-key = nonempty(large-bytes(certificate DER)) large-bytes(signed-key DER)
//! client-hello   = version key-hash:short-bytes
//!                  [auth-key]        ; v7+, optional: X25519 public key (short-bytes DER)
//!                  [proxy-server]    ; v14+, required: "T" / "F"
//!                  [client-service]  ; v16+, required: maybe(role cert-chain-key)
//! role           = "M" / "N" / "P"
//! server-answer  = "R" service-id:short-bytes / "E" transport-error
//! ```
//!
//! Each handshake is sent as the unbatched content of one padded block. As in the reference,
//! decoding a hello ignores bytes after it (room for extensions): see [`SmpServerHello::parse`].

use alloc::vec::Vec;

use crate::coding::{put_bool, put_large, put_list, put_short, Decode, Encode, Reader};
use crate::crypto::{Certificate, Ed25519Verifier, SignatureVerifier, SignedKey};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::error_type::{HandshakeError, TransportError};
use crate::keys::{PublicKey, X25519PublicKey};
use crate::version::{smp, Version, VersionRange};

/// A certificate chain and a key signed by its leaf (the reference's `CertChainPubKey`).
///
/// ```text
/// cert-chain-key = nonempty(large-bytes(certificate)) large-bytes(signed-key)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertChainPubKey {
    /// The chain, leaf first; never empty.
    pub cert_chain: Vec<Certificate>,
    /// The session key signed by the leaf certificate's key.
    pub signed_key: SignedKey,
}

fn x509_error(at: usize, expected: &'static str) -> DecodeError {
    DecodeError::new(DecodeErrorKind::BadKey, at, expected)
}

/// Decodes a signed key object in large bytes (`SignedObject`'s `smpP`).
///
/// # Errors
/// `Truncated`, or `BadKey` when the bytes are not a signed public key.
pub fn decode_signed_key(r: &mut Reader<'_>) -> DecodeResult<SignedKey> {
    let at = r.offset();
    let der = r.large_bytes("signed key")?;
    SignedKey::from_der(der).map_err(|_| x509_error(at, "X.509 signed public key"))
}

impl Encode for CertChainPubKey {
    fn encode(&self, out: &mut Vec<u8>) {
        put_list(out, &self.cert_chain, |out, c| put_large(out, c.der()));
        put_large(out, self.signed_key.der());
    }
}

impl<'a> Decode<'a> for CertChainPubKey {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let cert_chain = r.non_empty_list("certificate chain", |r| {
            let at = r.offset();
            let der = r.large_bytes("certificate")?;
            Certificate::from_der(der).map_err(|_| x509_error(at, "X.509 certificate"))
        })?;
        let signed_key = decode_signed_key(r)?;
        Ok(Self {
            cert_chain,
            signed_key,
        })
    }
}

/// What a certificate chain's length says about its certificates (`chainIdCaCerts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainCertificates<'c> {
    /// No certificate.
    Empty,
    /// One self-signed certificate.
    SelfSigned(&'c Certificate),
    /// 2 to 4 certificates: the leaf, the identity certificate (whose fingerprint is the key
    /// hash) and the CA.
    Valid {
        /// The TLS (online) certificate.
        leaf: &'c Certificate,
        /// The identity (offline) certificate.
        id: &'c Certificate,
        /// The CA certificate.
        ca: &'c Certificate,
    },
    /// More than 4 certificates.
    Long,
}

/// Classifies a chain by length (`chainIdCaCerts`).
pub fn chain_id_ca_certs(chain: &[Certificate]) -> ChainCertificates<'_> {
    match chain {
        [] => ChainCertificates::Empty,
        [c] => ChainCertificates::SelfSigned(c),
        [leaf, id] => ChainCertificates::Valid { leaf, id, ca: id },
        [leaf, id, ca] | [leaf, id, _, ca] => ChainCertificates::Valid { leaf, id, ca },
        _ => ChainCertificates::Long,
    }
}

/// The server's first handshake message (`SMPServerHandshake`).
///
/// ```text
/// server-hello = version-range session-id:short-bytes [cert-chain-key]   ; max >= 7
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SmpServerHello {
    /// The versions the server offers.
    pub version_range: VersionRange,
    /// The TLS channel binding.
    pub session_id: Vec<u8>,
    /// The server's certificate chain and signed session DH key (sent when the range reaches v7).
    pub auth: Option<CertChainPubKey>,
}

impl Encode for SmpServerHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version_range.encode(out);
        put_short(out, &self.session_id);
        if self.version_range.max() >= smp::AUTH_CMDS {
            if let Some(a) = &self.auth {
                a.encode(out);
            }
        }
    }
}

impl<'a> Decode<'a> for SmpServerHello {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let version_range = VersionRange::decode(r)?;
        let session_id = r.short_bytes("session id")?.to_vec();
        let auth = if version_range.max() >= smp::AUTH_CMDS {
            optional(r, CertChainPubKey::decode)
        } else {
            None
        };
        Ok(Self {
            version_range,
            session_id,
            auth,
        })
    }
}

impl SmpServerHello {
    /// Decodes a received hello, ignoring bytes after it (`getHandshake`).
    ///
    /// # Errors
    /// As the grammar; the reference reports any failure as `HANDSHAKE PARSE`.
    pub fn parse(bytes: &[u8]) -> DecodeResult<Self> {
        Self::decode(&mut Reader::new(bytes))
    }
}

/// Runs an optional parser, restoring the position when it fails (attoparsec's `optional`).
fn optional<'a, T>(
    r: &mut Reader<'a>,
    p: impl FnOnce(&mut Reader<'a>) -> DecodeResult<T>,
) -> Option<T> {
    let cp = r.checkpoint();
    match p(r) {
        Ok(v) => Some(v),
        Err(_) => {
            r.restore(cp);
            None
        }
    }
}

/// The role a service client declares (`SMPServiceRole`).
///
/// ```text
/// role = "M" (messaging) / "N" (notifier) / "P" (proxy)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ServiceRole {
    /// A messaging service (chat relay, bot).
    Messaging,
    /// A notification server.
    Notifier,
    /// An SMP proxy.
    Proxy,
}

impl ServiceRole {
    /// The wire byte.
    pub const fn tag(self) -> u8 {
        match self {
            Self::Messaging => b'M',
            Self::Notifier => b'N',
            Self::Proxy => b'P',
        }
    }

    /// From the wire byte.
    pub const fn from_tag(b: u8) -> Option<Self> {
        match b {
            b'M' => Some(Self::Messaging),
            b'N' => Some(Self::Notifier),
            b'P' => Some(Self::Proxy),
            _ => None,
        }
    }
}

/// A service client's certificate and key (`SMPClientHandshakeService`).
///
/// ```text
/// client-service = role cert-chain-key
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientService {
    /// The declared role.
    pub role: ServiceRole,
    /// The service certificate chain (the same as in TLS) and its signed Ed25519 key.
    pub cert_key: CertChainPubKey,
}

impl Encode for ClientService {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.role.tag());
        self.cert_key.encode(out);
    }
}

impl<'a> Decode<'a> for ClientService {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let role = ServiceRole::from_tag(r.u8("service role")?).ok_or(DecodeError::new(
            DecodeErrorKind::BadValue,
            at,
            "service role M, N or P",
        ))?;
        Ok(Self {
            role,
            cert_key: CertChainPubKey::decode(r)?,
        })
    }
}

/// The client's handshake message (`SMPClientHandshake`).
///
/// ```text
/// client-hello = version key-hash:short-bytes
///                [x25519-key]          ; v7+, optional
///                [bool]                ; v14+, proxy server
///                [maybe(client-service)] ; v16+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SmpClientHello {
    /// The version the client chose.
    pub version: Version,
    /// The server identity the client expects (SHA-256 of the identity certificate).
    pub key_hash: Vec<u8>,
    /// The client's session DH key (v7+).
    pub auth_key: Option<X25519PublicKey>,
    /// The client is an SMP proxy (v14+; disables block encryption).
    pub proxy_server: bool,
    /// The client's service certificate (v16+).
    pub client_service: Option<ClientService>,
}

impl Encode for SmpClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        let v = self.version;
        v.encode(out);
        put_short(out, &self.key_hash);
        if v >= smp::AUTH_CMDS {
            if let Some(k) = &self.auth_key {
                k.encode(out);
            }
        }
        if v >= smp::PROXY_SERVER_HANDSHAKE {
            put_bool(out, self.proxy_server);
        }
        if v >= smp::SERVICE_CERTS {
            crate::coding::put_maybe(out, self.client_service.as_ref(), |out, s| s.encode(out));
        }
    }
}

impl<'a> Decode<'a> for SmpClientHello {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let version = Version::decode(r)?;
        let key_hash = r.short_bytes("key hash")?.to_vec();
        let auth_key = if version >= smp::AUTH_CMDS {
            optional(r, X25519PublicKey::decode)
        } else {
            None
        };
        let proxy_server = if version >= smp::PROXY_SERVER_HANDSHAKE {
            r.bool("proxy server flag")?
        } else {
            false
        };
        let client_service = if version >= smp::SERVICE_CERTS {
            r.maybe("client service", ClientService::decode)?
        } else {
            None
        };
        Ok(Self {
            version,
            key_hash,
            auth_key,
            proxy_server,
            client_service,
        })
    }
}

impl SmpClientHello {
    /// Decodes a received hello, ignoring bytes after it (`getHandshake`).
    ///
    /// # Errors
    /// As the grammar; the reference reports any failure as `HANDSHAKE PARSE`.
    pub fn parse(bytes: &[u8]) -> DecodeResult<Self> {
        Self::decode(&mut Reader::new(bytes))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for SmpClientHello {
    /// Hellos without a client service (a certificate cannot be made up).
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let version = Version::arbitrary(u)?;
        let n = u.int_in_range(0..=255usize)?;
        let key_hash = u.bytes(n)?.to_vec();
        let auth_key =
            Option::<X25519PublicKey>::arbitrary(u)?.filter(|_| version >= smp::AUTH_CMDS);
        let proxy_server = bool::arbitrary(u)? && version >= smp::PROXY_SERVER_HANDSHAKE;
        Ok(Self {
            version,
            key_hash,
            auth_key,
            proxy_server,
            client_service: None,
        })
    }
}

/// The server's answer to a client that sent a service certificate (`SMPServerHandshakeResponse`).
///
/// ```text
/// server-answer = "R" service-id:short-bytes / "E" transport-error
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SmpServerHandshakeResponse {
    /// The service is registered with this id.
    ServiceId(Vec<u8>),
    /// The service was refused.
    Error(TransportError),
}

impl Encode for SmpServerHandshakeResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::ServiceId(id) => {
                out.push(b'R');
                put_short(out, id);
            }
            Self::Error(e) => {
                out.push(b'E');
                e.encode(out);
            }
        }
    }
}

impl<'a> Decode<'a> for SmpServerHandshakeResponse {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        match r.u8("handshake response tag")? {
            b'R' => Ok(Self::ServiceId(r.short_bytes("service id")?.to_vec())),
            b'E' => Ok(Self::Error(TransportError::decode(r)?)),
            _ => Err(DecodeError::new(DecodeErrorKind::UnknownTag, at, "R or E")),
        }
    }
}

impl SmpServerHandshakeResponse {
    /// Decodes a received answer, ignoring bytes after it (`getHandshake`).
    ///
    /// # Errors
    /// As the grammar; the reference reports any failure as `HANDSHAKE PARSE`.
    pub fn parse(bytes: &[u8]) -> DecodeResult<Self> {
        Self::decode(&mut Reader::new(bytes))
    }
}

/// What the server agreed with a client (the decisions of `smpServerHandshake`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpServerAgreement {
    /// The version the client chose.
    pub version: Version,
    /// The server's range capped at that version.
    pub range: VersionRange,
    /// The client's session DH key, if sent.
    pub client_key: Option<[u8; 32]>,
    /// The client is a proxy.
    pub proxy_server: bool,
    /// Blocks are encrypted (v11+, not a proxy, client sent a DH key).
    pub block_encryption: bool,
    /// The session id is implied in transmissions (v7+).
    pub implied_session_id: bool,
    /// Transmissions carry the service signature field (v16+).
    pub service_auth: bool,
}

/// The range a server offers: its supported range when the client negotiated ALPN `smp/1`,
/// the legacy v6 range otherwise.
pub fn smp_server_offer(alpn_negotiated: bool, supported: VersionRange) -> VersionRange {
    if alpn_negotiated {
        supported
    } else {
        smp::LEGACY_SERVER
    }
}

/// The server's checks of the client hello (`smpServerHandshake`): the key hash must be the
/// server's identity and the chosen version inside the offered range. Verifying a client
/// service's certificate is left to the caller.
///
/// # Errors
/// `HANDSHAKE IDENTITY` for another key hash, `VERSION` for an unsupported version.
pub fn smp_server_negotiate(
    offered: VersionRange,
    key_hash: &[u8],
    hello: &SmpClientHello,
) -> Result<SmpServerAgreement, TransportError> {
    if hello.key_hash != key_hash {
        return Err(TransportError::Handshake(HandshakeError::Identity));
    }
    let range = offered
        .capped_at(hello.version)
        .ok_or(TransportError::Version)?;
    let v = hello.version;
    let client_key = hello.auth_key.map(|k| k.0);
    Ok(SmpServerAgreement {
        version: v,
        range,
        client_key,
        proxy_server: hello.proxy_server,
        block_encryption: !hello.proxy_server && v >= smp::ENCRYPTED_BLOCK && client_key.is_some(),
        implied_session_id: v >= smp::AUTH_CMDS,
        service_auth: v >= smp::SERVICE_CERTS,
    })
}

/// What a client agreed with the server (the decisions of `smpClientHandshake`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpClientAgreement {
    /// The version to send in the client hello (the highest common one).
    pub version: Version,
    /// The common range.
    pub range: VersionRange,
    /// The server's verified session DH key, if it sent one.
    pub server_key: Option<[u8; 32]>,
    /// Blocks are encrypted (v11+, not a proxy, server key verified, and `has_client_key`).
    pub block_encryption: bool,
    /// The session id is implied in transmissions (v7+).
    pub implied_session_id: bool,
    /// Transmissions carry the service signature field (v16+).
    pub service_auth: bool,
}

/// The client's checks of the server hello (`smpClientHandshake`).
///
/// `session_id` is the client's own TLS channel binding, `tls_server_key` the public key of the
/// TLS server (leaf) certificate, `key_hash` the expected identity. A proxy connecting to a
/// server older than v14 caps its range at v10. When the server sent a signed key, its chain
/// must have 2-4 certificates with the identity certificate's fingerprint equal to `key_hash`,
/// and the key must be an X25519 key signed by `tls_server_key`.
///
/// The signature is checked with the built-in [`Ed25519Verifier`], so a server with Ed448
/// credentials gets `HANDSHAKE BAD_AUTH`; [`smp_client_negotiate_with`] takes another verifier.
///
/// # Errors
/// `SESSION` for another session id, `VERSION` for no common version, `HANDSHAKE BAD_AUTH` when
/// the signed key does not verify.
pub fn smp_client_negotiate(
    ours: VersionRange,
    session_id: &[u8],
    key_hash: &[u8],
    tls_server_key: Option<&PublicKey>,
    proxy_server: bool,
    has_client_key: bool,
    hello: &SmpServerHello,
) -> Result<SmpClientAgreement, TransportError> {
    smp_client_negotiate_with(
        ours,
        session_id,
        key_hash,
        tls_server_key,
        proxy_server,
        has_client_key,
        hello,
        &Ed25519Verifier,
    )
}

/// [`smp_client_negotiate`] verifying the signed key with `verifier` (e.g. one that has Ed448,
/// the reference servers' default credentials).
///
/// # Errors
/// As [`smp_client_negotiate`]; any verification failure, including an algorithm the
/// verifier does not implement, is `HANDSHAKE BAD_AUTH`.
#[allow(clippy::too_many_arguments)] // the inputs of smpClientHandshake, plus the verifier
pub fn smp_client_negotiate_with(
    ours: VersionRange,
    session_id: &[u8],
    key_hash: &[u8],
    tls_server_key: Option<&PublicKey>,
    proxy_server: bool,
    has_client_key: bool,
    hello: &SmpServerHello,
    verifier: &dyn SignatureVerifier,
) -> Result<SmpClientAgreement, TransportError> {
    if hello.session_id != session_id {
        return Err(TransportError::Session);
    }
    let ours = if proxy_server && hello.version_range.max() < smp::PROXY_SERVER_HANDSHAKE {
        VersionRange::new(ours.min(), ours.min().max(smp::DELETED_EVENT)).unwrap_or(ours)
    } else {
        ours
    };
    let range = hello
        .version_range
        .intersect(&ours)
        .ok_or(TransportError::Version)?;
    let bad_auth = TransportError::Handshake(HandshakeError::BadAuth);
    let server_key = match &hello.auth {
        None => None,
        Some(ck) => {
            match chain_id_ca_certs(&ck.cert_chain) {
                ChainCertificates::Valid { id, .. } if id.fingerprint()[..] == *key_hash => {}
                _ => return Err(bad_auth),
            }
            let k = tls_server_key.ok_or(bad_auth)?;
            Some(
                ck.signed_key
                    .verify_x25519_with(k, verifier)
                    .map_err(|_| bad_auth)?,
            )
        }
    };
    let v = range.max();
    Ok(SmpClientAgreement {
        version: v,
        range,
        server_key,
        block_encryption: !proxy_server
            && v >= smp::ENCRYPTED_BLOCK
            && server_key.is_some()
            && has_client_key,
        implied_session_id: v >= smp::AUTH_CMDS,
        service_auth: v >= smp::SERVICE_CERTS,
    })
}

#[cfg(feature = "serde")]
mod json {
    //! JSON forms of FORMAT.md: `smp.server_hello` and `smp.client_hello`.
    use super::*;
    use crate::json::{hex_decode, hex_encode};
    use alloc::string::String;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn range_from<E: serde::de::Error>(r: (u16, u16)) -> Result<VersionRange, E> {
        VersionRange::new(Version(r.0), Version(r.1))
            .ok_or_else(|| E::custom("version range min > max"))
    }

    fn non_empty<E: serde::de::Error>(v: Vec<Certificate>) -> Result<Vec<Certificate>, E> {
        if v.is_empty() {
            Err(E::custom("empty certificate chain"))
        } else {
            Ok(v)
        }
    }

    #[derive(Serialize, Deserialize)]
    struct ServerHelloJson {
        version_range: (u16, u16),
        session_id: String,
        cert_chain: Option<Vec<Certificate>>,
        signed_key: Option<SignedKey>,
    }

    impl Serialize for SmpServerHello {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ServerHelloJson {
                version_range: (self.version_range.min().0, self.version_range.max().0),
                session_id: hex_encode(&self.session_id),
                cert_chain: self.auth.as_ref().map(|a| a.cert_chain.clone()),
                signed_key: self.auth.as_ref().map(|a| a.signed_key.clone()),
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for SmpServerHello {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = ServerHelloJson::deserialize(d)?;
            let auth = match (j.cert_chain, j.signed_key) {
                (None, None) => None,
                (Some(c), Some(k)) => Some(CertChainPubKey {
                    cert_chain: non_empty(c)?,
                    signed_key: k,
                }),
                _ => {
                    return Err(D::Error::custom(
                        "cert_chain and signed_key must both be present or null",
                    ))
                }
            };
            Ok(Self {
                version_range: range_from(j.version_range)?,
                session_id: hex_decode(&j.session_id).map_err(D::Error::custom)?,
                auth,
            })
        }
    }

    /// `smp.handshake_response`: `{"service_id": HEX}` or `{"error": TEXT}`, TEXT the
    /// transport error's wire text (e.g. `"HANDSHAKE BAD_SERVICE"`).
    #[derive(Serialize, Deserialize)]
    struct HandshakeResponseJson {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    }

    impl Serialize for SmpServerHandshakeResponse {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let j = match self {
                Self::ServiceId(id) => HandshakeResponseJson {
                    service_id: Some(hex_encode(id)),
                    error: None,
                },
                Self::Error(e) => HandshakeResponseJson {
                    service_id: None,
                    error: Some(e.to_bytes().iter().map(|&b| char::from(b)).collect()),
                },
            };
            j.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for SmpServerHandshakeResponse {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match HandshakeResponseJson::deserialize(d)? {
                HandshakeResponseJson {
                    service_id: Some(id),
                    error: None,
                } => Ok(Self::ServiceId(hex_decode(&id).map_err(D::Error::custom)?)),
                HandshakeResponseJson {
                    service_id: None,
                    error: Some(e),
                } => {
                    let mut r = Reader::new(e.as_bytes());
                    let t = TransportError::decode(&mut r)
                        .and_then(|t| r.finish().map(|()| t))
                        .map_err(|_| D::Error::custom("bad transport error"))?;
                    Ok(Self::Error(t))
                }
                _ => Err(D::Error::custom("exactly one of service_id and error")),
            }
        }
    }

    #[derive(Serialize, Deserialize)]
    struct ServiceJson {
        role: String,
        cert_chain: Vec<Certificate>,
        signed_key: SignedKey,
    }

    #[derive(Serialize, Deserialize)]
    struct ClientHelloJson {
        version: u16,
        key_hash: String,
        auth_key: Option<X25519PublicKey>,
        proxy_server: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_service: Option<ServiceJson>,
    }

    impl Serialize for SmpClientHello {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ClientHelloJson {
                version: self.version.0,
                key_hash: hex_encode(&self.key_hash),
                auth_key: self.auth_key,
                proxy_server: self.proxy_server,
                client_service: self.client_service.as_ref().map(|c| ServiceJson {
                    role: String::from(char::from(c.role.tag())),
                    cert_chain: c.cert_key.cert_chain.clone(),
                    signed_key: c.cert_key.signed_key.clone(),
                }),
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for SmpClientHello {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = ClientHelloJson::deserialize(d)?;
            let client_service = match j.client_service {
                None => None,
                Some(c) => Some(ClientService {
                    role: match c.role.as_bytes() {
                        [b] => ServiceRole::from_tag(*b),
                        _ => None,
                    }
                    .ok_or_else(|| D::Error::custom("role must be M, N or P"))?,
                    cert_key: CertChainPubKey {
                        cert_chain: non_empty(c.cert_chain)?,
                        signed_key: c.signed_key,
                    },
                }),
            };
            Ok(Self {
                version: Version(j.version),
                key_hash: hex_decode(&j.key_hash).map_err(D::Error::custom)?,
                auth_key: j.auth_key,
                proxy_server: j.proxy_server,
                client_service,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{ed25519_public, sha256, Signature};
    use alloc::format;
    use alloc::vec;
    use proptest::prelude::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const SID: &str = "26909d92033195e9e9e46373e9fe263f73a6f9dfb25411e79ecab5cf77866e2c";
    const LEAF: &str = "3081ce308181a003020102020101300506032b65703011310f300d06035504030c06736572766572301e170d3234303130313030303030305a170d3334303130313030303030305a3011310f300d06035504030c06736572766572302a300506032b657003210010119c6f57931b3d838c43b4a58150daeb3f7f5d08d4d13e0f96a717fe5fbedd300506032b657003410016516d89b1646d91e19b15924539498f554a4327d711cd9a0af2e4ae104a7ac232f077c2760524b297947847c7c38d2c620a17baf7c10abf322b0898176dfd07";
    const SIGNED_KEY: &str = "3078302c302a300506032b656e032100c3bbb82d8bf542faa854c639fe494e2d07e61608391eced111b62b49f0eae54b300506032b6570034100d7040a57baa8d79363d52f58c233a842b4788b12eef122bcc910d154ed180833a2210443f7bd85a7c7dff13f1eab32b30da1d69a2431c67e5c048f9a7743ad06";
    const DH_KEY: &str =
        "302a300506032b656e032100c3bbb82d8bf542faa854c639fe494e2d07e61608391eced111b62b49f0eae54b";

    fn chain1_hello(range: &str) -> Vec<u8> {
        h(&format!("{range}20{SID}0100d1{LEAF}007a{SIGNED_KEY}"))
    }

    #[test]
    fn decode_server_hello_with_chain() {
        // smp/server_hello/v6_18_chain1
        let wire = chain1_hello("00060012");
        let hello = SmpServerHello::parse(&wire).unwrap();
        assert_eq!(
            hello.version_range,
            VersionRange::new(Version(6), Version(18)).unwrap()
        );
        assert_eq!(hello.session_id, h(SID));
        let auth = hello.auth.as_ref().unwrap();
        assert_eq!(auth.cert_chain.len(), 1);
        assert_eq!(auth.cert_chain[0].der(), &h(LEAF)[..]);
        assert_eq!(auth.signed_key.der(), &h(SIGNED_KEY)[..]);
        assert_eq!(hello.to_bytes(), wire);
    }

    #[test]
    fn server_hello_key_ignored_below_v7() {
        // smp/server_hello/v6_6/key_ignored: canonical drops the key
        let wire = chain1_hello("00060006");
        let hello = SmpServerHello::parse(&wire).unwrap();
        assert_eq!(hello.auth, None);
        assert_eq!(hello.to_bytes(), h(&format!("0006000620{SID}")));
    }

    #[test]
    fn server_hello_without_key_and_bad_key() {
        // smp/server_hello/v6_18_no_key
        let wire = h(&format!("0006001220{SID}"));
        assert_eq!(SmpServerHello::parse(&wire).unwrap().auth, None);
        // a malformed chain is not a key (optional): it is ignored with the rest
        let mut bad = chain1_hello("00060012");
        bad[40] ^= 0xff;
        let hello = SmpServerHello::parse(&bad).unwrap();
        assert_eq!(hello.auth, None);
    }

    #[test]
    fn rejects_bad_server_hello() {
        // smp/server_hello/invalid/range_reversed and trunc_33
        let e = SmpServerHello::parse(&h(&format!("0012000620{SID}"))).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::BadVersion);
        let w = h(&format!("0006001220{SID}"));
        assert_eq!(
            SmpServerHello::parse(&w[..33]).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
    }

    #[test]
    fn decode_client_hellos() {
        // smp/client_hello/v18/proxy
        let wire = h(&format!("001220{SID}2c{DH_KEY}5430"));
        let c = SmpClientHello::parse(&wire).unwrap();
        assert_eq!(c.version, Version(18));
        assert_eq!(
            c.auth_key,
            Some(X25519PublicKey(h(&DH_KEY[24..]).try_into().unwrap()))
        );
        assert!(c.proxy_server);
        assert_eq!(c.client_service, None);
        assert_eq!(c.to_bytes(), wire);
        // smp/client_hello/v17/no_key: "F" is not a key
        let wire = h(&format!("001120{SID}4630"));
        let c = SmpClientHello::parse(&wire).unwrap();
        assert_eq!((c.auth_key, c.proxy_server), (None, false));
        assert_eq!(c.to_bytes(), wire);
        // smp/client_hello/v18/trailing_ignored
        let wire = h(&format!("001220{SID}2c{DH_KEY}4630657874"));
        let c = SmpClientHello::parse(&wire).unwrap();
        assert_eq!(c.to_bytes(), &wire[..wire.len() - 3]);
        // smp/client_hello/v6/key_ignored
        let wire = h(&format!("000620{SID}2c{DH_KEY}"));
        let c = SmpClientHello::parse(&wire).unwrap();
        assert_eq!(c.auth_key, None);
        assert_eq!(c.to_bytes(), &wire[..35]);
    }

    #[test]
    fn rejects_bad_client_hellos() {
        // smp/client_hello/invalid/v14_missing_bool
        let wire = h(&format!("000e20{SID}2c{DH_KEY}"));
        assert_eq!(
            SmpClientHello::parse(&wire).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        // smp/client_hello/v18/trunc_53
        let wire = h(&format!("001220{SID}2c{DH_KEY}5430"));
        assert!(SmpClientHello::parse(&wire[..53]).is_err());
        // v16 requires the service maybe tag
        let wire = h(&format!("001020{SID}4632"));
        assert_eq!(
            SmpClientHello::parse(&wire).unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
    }

    fn cert_key() -> CertChainPubKey {
        CertChainPubKey {
            cert_chain: vec![Certificate::from_der(&h(LEAF)).unwrap()],
            signed_key: SignedKey::from_der(&h(SIGNED_KEY)).unwrap(),
        }
    }

    #[test]
    fn client_service_round_trip() {
        let c = SmpClientHello {
            version: Version(16),
            key_hash: vec![1; 32],
            auth_key: Some(X25519PublicKey([2; 32])),
            proxy_server: false,
            client_service: Some(ClientService {
                role: ServiceRole::Notifier,
                cert_key: cert_key(),
            }),
        };
        let b = c.to_bytes();
        assert_eq!(SmpClientHello::parse(&b).unwrap(), c);
        let mut bad = b.clone();
        let role_at = b.len() - (1 + 2 + 0xd1 + 2 + 0x7a) - 1;
        assert_eq!(bad[role_at], b'N');
        bad[role_at] = b'X';
        assert_eq!(
            SmpClientHello::parse(&bad).unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
    }

    #[test]
    fn handshake_response() {
        for r in [
            SmpServerHandshakeResponse::ServiceId(b"svc".to_vec()),
            SmpServerHandshakeResponse::Error(TransportError::Handshake(HandshakeError::BadAuth)),
        ] {
            assert_eq!(
                SmpServerHandshakeResponse::decode_exact(&r.to_bytes()).unwrap(),
                r
            );
        }
        assert_eq!(
            &SmpServerHandshakeResponse::ServiceId(b"ab".to_vec()).to_bytes()[..],
            b"R\x02ab"
        );
        assert_eq!(
            SmpServerHandshakeResponse::decode_exact(b"X")
                .unwrap_err()
                .kind,
            DecodeErrorKind::UnknownTag
        );
    }

    #[test]
    fn server_negotiation() {
        let offered = smp::SUPPORTED;
        let mut c = SmpClientHello {
            version: Version(18),
            key_hash: vec![1; 32],
            auth_key: Some(X25519PublicKey([2; 32])),
            proxy_server: false,
            client_service: None,
        };
        let a = smp_server_negotiate(offered, &[1; 32], &c).unwrap();
        assert_eq!(a.range, VersionRange::new(Version(6), Version(18)).unwrap());
        assert!(a.block_encryption && a.implied_session_id && a.service_auth);
        assert_eq!(
            smp_server_negotiate(offered, &[9; 32], &c),
            Err(TransportError::Handshake(HandshakeError::Identity))
        );
        c.version = Version(19);
        assert_eq!(
            smp_server_negotiate(offered, &[1; 32], &c),
            Err(TransportError::Version)
        );
        c.version = Version(10);
        let a = smp_server_negotiate(offered, &[1; 32], &c).unwrap();
        assert!(!a.block_encryption && !a.service_auth);
        assert_eq!(smp_server_offer(false, offered), smp::LEGACY_SERVER);
    }

    #[test]
    fn client_negotiation() {
        // the server hello of the vectors: chain [leaf] only -> not a valid id chain
        let hello = SmpServerHello::parse(&chain1_hello("00060012")).unwrap();
        let leaf = Certificate::from_der(&h(LEAF)).unwrap();
        let key = leaf.public_key().unwrap();
        let kh = leaf.fingerprint();
        let r = smp_client_negotiate(
            smp::SUPPORTED,
            &h(SID),
            &kh,
            Some(&key),
            false,
            true,
            &hello,
        );
        assert_eq!(r, Err(TransportError::Handshake(HandshakeError::BadAuth)));
        // chain [leaf, leaf]: identity = second certificate
        let mut hello2 = hello.clone();
        hello2.auth.as_mut().unwrap().cert_chain.push(leaf.clone());
        let a = smp_client_negotiate(
            smp::SUPPORTED,
            &h(SID),
            &kh,
            Some(&key),
            false,
            true,
            &hello2,
        )
        .unwrap();
        assert_eq!(a.version, Version(18));
        assert_eq!(a.server_key.unwrap()[..], h(&DH_KEY[24..])[..]);
        assert!(a.block_encryption);
        assert_eq!(
            smp_client_negotiate(
                smp::SUPPORTED,
                &[0; 32],
                &kh,
                Some(&key),
                false,
                true,
                &hello2
            ),
            Err(TransportError::Session)
        );
        assert_eq!(
            smp_client_negotiate(
                smp::SUPPORTED,
                &h(SID),
                &sha256(b"x"),
                Some(&key),
                false,
                true,
                &hello2
            ),
            Err(TransportError::Handshake(HandshakeError::BadAuth))
        );
        let wrong = PublicKey::Ed25519(ed25519_public(&[5; 32]));
        assert_eq!(
            smp_client_negotiate(
                smp::SUPPORTED,
                &h(SID),
                &kh,
                Some(&wrong),
                false,
                true,
                &hello2
            ),
            Err(TransportError::Handshake(HandshakeError::BadAuth))
        );
        let high = VersionRange::new(Version(19), Version(20)).unwrap();
        assert_eq!(
            smp_client_negotiate(high, &h(SID), &kh, Some(&key), false, true, &hello2),
            Err(TransportError::Version)
        );
        // a proxy talking to an old server caps at v10
        let old = SmpServerHello {
            version_range: VersionRange::new(Version(6), Version(12)).unwrap(),
            session_id: h(SID),
            auth: None,
        };
        let a = smp_client_negotiate(smp::SUPPORTED, &h(SID), &kh, None, true, true, &old).unwrap();
        assert_eq!(a.version, Version(10));
    }

    #[test]
    fn client_negotiation_with_a_verifier() {
        // an Ed448-signed session key (the reference's default credentials), with a stand-in
        // signature and a verifier that accepts exactly it
        let leaf = Certificate::from_der(&h(LEAF)).unwrap();
        let kh = leaf.fingerprint();
        let ed448 = PublicKey::Ed448([3; 57]);
        let sig = Signature::Ed448([8; 114]);
        let signed =
            SignedKey::sign_with(&PublicKey::X25519([6; 32]), |_| Ok::<_, ()>(sig)).unwrap();
        let hello = SmpServerHello {
            version_range: smp::SUPPORTED,
            session_id: h(SID),
            auth: Some(CertChainPubKey {
                cert_chain: vec![leaf.clone(), leaf],
                signed_key: signed,
            }),
        };
        let ed448_ok = |k: &PublicKey, s: &Signature, _: &[u8]| {
            if (*k, *s) == (ed448, sig) {
                Ok(())
            } else {
                Err(crate::crypto::CryptoError::BadSignature)
            }
        };
        let negotiate = |v: &dyn SignatureVerifier, k: &PublicKey| {
            smp_client_negotiate_with(
                smp::SUPPORTED,
                &h(SID),
                &kh,
                Some(k),
                false,
                true,
                &hello,
                v,
            )
        };
        let a = negotiate(&ed448_ok, &ed448).unwrap();
        assert_eq!(a.server_key, Some([6; 32]));
        assert!(a.block_encryption);
        let bad_auth = Err(TransportError::Handshake(HandshakeError::BadAuth));
        assert_eq!(negotiate(&ed448_ok, &PublicKey::Ed448([4; 57])), bad_auth);
        // the built-in verifier has no Ed448: BAD_AUTH, not a panic
        assert_eq!(negotiate(&Ed25519Verifier, &ed448), bad_auth);
        assert_eq!(
            smp_client_negotiate(
                smp::SUPPORTED,
                &h(SID),
                &kh,
                Some(&ed448),
                false,
                true,
                &hello
            ),
            bad_auth
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_forms() {
        let hello = SmpServerHello::parse(&chain1_hello("00060012")).unwrap();
        let j = serde_json::to_value(&hello).unwrap();
        assert_eq!(j["version_range"], serde_json::json!([6, 18]));
        assert_eq!(j["cert_chain"], serde_json::json!([LEAF]));
        assert_eq!(j["signed_key"], serde_json::json!(SIGNED_KEY));
        assert_eq!(serde_json::from_value::<SmpServerHello>(j).unwrap(), hello);
        let c = SmpClientHello::parse(&h(&format!("001220{SID}2c{DH_KEY}5430"))).unwrap();
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"version": 18, "key_hash": SID, "auth_key": {"alg": "x25519", "public": &DH_KEY[24..]}, "proxy_server": true})
        );
        assert_eq!(serde_json::from_value::<SmpClientHello>(j).unwrap(), c);
    }

    fn arb_client_hello() -> impl Strategy<Value = SmpClientHello> {
        (
            6u16..20,
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::option::of(any::<[u8; 32]>()),
            any::<bool>(),
            proptest::option::of(prop_oneof![
                Just(ServiceRole::Messaging),
                Just(ServiceRole::Notifier),
                Just(ServiceRole::Proxy)
            ]),
        )
            .prop_map(|(v, key_hash, k, proxy, role)| {
                let version = Version(v);
                SmpClientHello {
                    version,
                    key_hash,
                    auth_key: k.filter(|_| version >= smp::AUTH_CMDS).map(X25519PublicKey),
                    proxy_server: proxy && version >= smp::PROXY_SERVER_HANDSHAKE,
                    client_service: role.filter(|_| version >= smp::SERVICE_CERTS).map(|role| {
                        ClientService {
                            role,
                            cert_key: cert_key(),
                        }
                    }),
                }
            })
    }

    proptest! {
        #[test]
        fn client_hello_round_trip(c in arb_client_hello()) {
            prop_assert_eq!(SmpClientHello::parse(&c.to_bytes()).unwrap(), c);
        }

        #[test]
        fn server_hello_round_trip(a in 0u16..20, b in 0u16..20, sid in proptest::collection::vec(any::<u8>(), 0..64), with_key: bool, ncerts in 1usize..4) {
            let version_range = VersionRange::new(Version(a.min(b)), Version(a.max(b))).unwrap();
            let auth = (with_key && version_range.max() >= smp::AUTH_CMDS).then(|| {
                let mut ck = cert_key();
                ck.cert_chain = vec![ck.cert_chain[0].clone(); ncerts];
                ck
            });
            let hello = SmpServerHello { version_range, session_id: sid, auth };
            prop_assert_eq!(SmpServerHello::parse(&hello.to_bytes()).unwrap(), hello);
        }

        #[test]
        fn hello_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = SmpServerHello::parse(&b);
            let _ = SmpClientHello::parse(&b);
            let _ = SmpServerHandshakeResponse::decode_exact(&b);
        }
    }
}
