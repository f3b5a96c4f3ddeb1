//! The NTF transport handshake: server hello, client hello, and the pure negotiation of both
//! sides.
//!
//! ```text
//! server-hello = version-range session-id:short-bytes [signed-key]  ; required when max >= 2
//! signed-key   = large-bytes(X.509 signed public key DER)           ; the server's X25519 key
//! client-hello = version key-hash:short-bytes
//! ```
//!
//! Each is sent as the unbatched content of one padded 512-byte block. Decoding a hello ignores
//! bytes after it, as the reference does ([`NtfServerHello::parse`], [`NtfClientHello::parse`]).

use alloc::vec::Vec;

use smp_proto::block::{HandshakeError, TransportError};
use smp_proto::coding::{put_large, put_short};
use smp_proto::crypto::{Ed25519Verifier, SignatureVerifier, SignedKey};
use smp_proto::handshake::decode_signed_key;
use smp_proto::keys::PublicKey;
use smp_proto::transmission::TransmissionParams;

use crate::version::{self, Version, VersionRange};
use crate::{Decode, DecodeResult, Encode, Reader};

/// The server's handshake message (`NtfServerHandshake`).
///
/// ```text
/// server-hello = version-range session-id:short-bytes [large-bytes(signed-key)] ; max >= 2
/// ```
///
/// Valid values carry `signed_key` exactly when the range reaches v2; below v2 it is not sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NtfServerHello {
    /// The versions the server offers.
    pub version_range: VersionRange,
    /// The TLS channel binding.
    pub session_id: Vec<u8>,
    /// The server's session X25519 key signed with its TLS certificate key.
    pub signed_key: Option<SignedKey>,
}

impl Encode for NtfServerHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version_range.encode(out);
        put_short(out, &self.session_id);
        if self.version_range.max() >= version::AUTH_BATCH_CMDS {
            if let Some(k) = &self.signed_key {
                put_large(out, k.der());
            }
        }
    }
}

impl<'a> Decode<'a> for NtfServerHello {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let version_range = VersionRange::decode(r)?;
        let session_id = r.short_bytes("session id")?.to_vec();
        let signed_key = if version_range.max() >= version::AUTH_BATCH_CMDS {
            Some(decode_signed_key(r)?)
        } else {
            None
        };
        Ok(Self {
            version_range,
            session_id,
            signed_key,
        })
    }
}

impl NtfServerHello {
    /// Decodes a received hello, ignoring bytes after it (`getHandshake`).
    ///
    /// # Errors
    /// `Truncated`, `BadVersion` for a reversed range, `BadKey` for a signed key that does not
    /// parse; the reference reports all as `HANDSHAKE PARSE`.
    pub fn parse(bytes: &[u8]) -> DecodeResult<Self> {
        Self::decode(&mut Reader::new(bytes))
    }
}

/// The client's handshake message (`NtfClientHandshake`).
///
/// ```text
/// client-hello = version key-hash:short-bytes
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NtfClientHello {
    /// The version the client chose.
    pub version: Version,
    /// The server identity the client expects (SHA-256 of its identity certificate); at most 255 bytes.
    pub key_hash: Vec<u8>,
}

impl Encode for NtfClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        put_short(out, &self.key_hash);
    }
}

impl<'a> Decode<'a> for NtfClientHello {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let version = Version::decode(r)?;
        let key_hash = r.short_bytes("key hash")?.to_vec();
        Ok(Self { version, key_hash })
    }
}

impl NtfClientHello {
    /// Decodes a received hello, ignoring bytes after it (`getHandshake`).
    ///
    /// # Errors
    /// `Truncated`.
    pub fn parse(bytes: &[u8]) -> DecodeResult<Self> {
        Self::decode(&mut Reader::new(bytes))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for NtfClientHello {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let version = Version::arbitrary(u)?;
        let n = u.int_in_range(0..=255usize)?;
        Ok(Self {
            version,
            key_hash: u.bytes(n)?.to_vec(),
        })
    }
}

/// The session an NTF handshake agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NtfAgreement {
    /// The agreed version.
    pub version: Version,
    /// The agreed range.
    pub range: VersionRange,
    /// The server's verified session DH key (client side, when the server sent one).
    pub server_key: Option<[u8; 32]>,
}

impl NtfAgreement {
    /// Whether the session id is implied and blocks are batched (v2+).
    pub fn implied_session_id(&self) -> bool {
        version::implies_session_id(self.version)
    }

    /// Whether blocks are batched (v2+).
    pub fn batch(&self) -> bool {
        version::implies_session_id(self.version)
    }

    /// The transmission parameters of this session.
    pub fn params<'s>(&self, session_id: &'s [u8]) -> TransmissionParams<'s> {
        TransmissionParams::ntf(session_id, self.version)
    }
}

/// The range a server offers: `supported` when the client negotiated ALPN `ntf/1`, the
/// legacy v1 range otherwise.
pub fn server_offer(alpn_negotiated: bool, supported: VersionRange) -> VersionRange {
    if alpn_negotiated {
        supported
    } else {
        version::LEGACY_SERVER
    }
}

/// The server's checks of the client hello (`ntfServerHandshake`).
///
/// # Errors
/// `HANDSHAKE IDENTITY` when the key hash is not the server's, `VERSION` when the chosen version
/// is above the offered range or below its minimum.
pub fn server_negotiate(
    offered: VersionRange,
    key_hash: &[u8],
    hello: &NtfClientHello,
) -> Result<NtfAgreement, TransportError> {
    if hello.key_hash != key_hash {
        return Err(TransportError::Handshake(HandshakeError::Identity));
    }
    let range = offered
        .capped_at(hello.version)
        .ok_or(TransportError::Version)?;
    Ok(NtfAgreement {
        version: hello.version,
        range,
        server_key: None,
    })
}

/// The client's checks of the server hello (`ntfClientHandshake`): the session id must be the
/// client's TLS channel binding, the ranges must overlap (the client sends the highest common
/// version), and a signed key must be an X25519 key signed by the TLS server certificate's key.
///
/// The signature is checked with the built-in [`Ed25519Verifier`], so a server with Ed448
/// credentials gets `HANDSHAKE BAD_AUTH`; [`client_negotiate_with`] takes another verifier.
///
/// # Errors
/// `SESSION`, `VERSION`, or `HANDSHAKE BAD_AUTH`.
pub fn client_negotiate(
    ours: VersionRange,
    session_id: &[u8],
    tls_server_key: Option<&PublicKey>,
    hello: &NtfServerHello,
) -> Result<NtfAgreement, TransportError> {
    client_negotiate_with(ours, session_id, tls_server_key, hello, &Ed25519Verifier)
}

/// [`client_negotiate`] verifying the signed key with `verifier` (e.g. one that has Ed448, the
/// reference servers' default credentials).
///
/// # Errors
/// As [`client_negotiate`]; any verification failure, including an algorithm the verifier
/// does not implement, is `HANDSHAKE BAD_AUTH`.
pub fn client_negotiate_with(
    ours: VersionRange,
    session_id: &[u8],
    tls_server_key: Option<&PublicKey>,
    hello: &NtfServerHello,
    verifier: &dyn SignatureVerifier,
) -> Result<NtfAgreement, TransportError> {
    if hello.session_id != session_id {
        return Err(TransportError::Session);
    }
    let range = hello
        .version_range
        .intersect(&ours)
        .ok_or(TransportError::Version)?;
    let bad_auth = TransportError::Handshake(HandshakeError::BadAuth);
    let server_key = match &hello.signed_key {
        None => None,
        Some(sk) => Some(
            sk.verify_x25519_with(tls_server_key.ok_or(bad_auth)?, verifier)
                .map_err(|_| bad_auth)?,
        ),
    };
    Ok(NtfAgreement {
        version: range.max(),
        range,
        server_key,
    })
}

#[cfg(feature = "serde")]
mod json {
    //! JSON forms of FORMAT.md: `ntf.server_hello` and `ntf.client_hello`.
    use super::*;
    use alloc::string::String;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use smp_proto::json::{hex_decode, hex_encode};

    #[derive(Serialize, Deserialize)]
    struct ServerJson {
        version_range: (u16, u16),
        session_id: String,
        signed_key: Option<SignedKey>,
    }

    impl Serialize for NtfServerHello {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ServerJson {
                version_range: (self.version_range.min().0, self.version_range.max().0),
                session_id: hex_encode(&self.session_id),
                signed_key: self.signed_key.clone(),
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for NtfServerHello {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = ServerJson::deserialize(d)?;
            Ok(Self {
                version_range: VersionRange::new(
                    Version(j.version_range.0),
                    Version(j.version_range.1),
                )
                .ok_or_else(|| D::Error::custom("version range min > max"))?,
                session_id: hex_decode(&j.session_id).map_err(D::Error::custom)?,
                signed_key: j.signed_key,
            })
        }
    }

    #[derive(Serialize, Deserialize)]
    struct ClientJson {
        version: u16,
        key_hash: String,
    }

    impl Serialize for NtfClientHello {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ClientJson {
                version: self.version.0,
                key_hash: hex_encode(&self.key_hash),
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for NtfClientHello {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = ClientJson::deserialize(d)?;
            Ok(Self {
                version: Version(j.version),
                key_hash: hex_decode(&j.key_hash).map_err(D::Error::custom)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use proptest::prelude::*;
    use smp_proto::crypto::{ed25519_public, Certificate, CryptoError, Signature};
    use smp_proto::DecodeErrorKind;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const SID: &str = "26909d92033195e9e9e46373e9fe263f73a6f9dfb25411e79ecab5cf77866e2c";
    const SIGNED_KEY: &str = "3078302c302a300506032b656e032100c3bbb82d8bf542faa854c639fe494e2d07e61608391eced111b62b49f0eae54b300506032b6570034100d7040a57baa8d79363d52f58c233a842b4788b12eef122bcc910d154ed180833a2210443f7bd85a7c7dff13f1eab32b30da1d69a2431c67e5c048f9a7743ad06";
    const LEAF: &str = "3081ce308181a003020102020101300506032b65703011310f300d06035504030c06736572766572301e170d3234303130313030303030305a170d3334303130313030303030305a3011310f300d06035504030c06736572766572302a300506032b657003210010119c6f57931b3d838c43b4a58150daeb3f7f5d08d4d13e0f96a717fe5fbedd300506032b657003410016516d89b1646d91e19b15924539498f554a4327d711cd9a0af2e4ae104a7ac232f077c2760524b297947847c7c38d2c620a17baf7c10abf322b0898176dfd07";

    fn range(a: u16, b: u16) -> VersionRange {
        VersionRange::new(Version(a), Version(b)).unwrap()
    }

    #[test]
    fn decode_server_hello_v1_3() {
        // ntf/server_hello/v1_3
        let wire = h(&format!("0001000320{SID}007a{SIGNED_KEY}"));
        let hello = NtfServerHello::parse(&wire).unwrap();
        assert_eq!(hello.version_range, range(1, 3));
        assert_eq!(hello.session_id, h(SID));
        assert_eq!(hello.signed_key.as_ref().unwrap().der(), &h(SIGNED_KEY)[..]);
        assert_eq!(hello.to_bytes(), wire);
        // ntf/server_hello/v1_3/trailing_ignored
        let mut trailing = wire.clone();
        trailing.extend_from_slice(b"\x00\x01");
        assert_eq!(NtfServerHello::parse(&trailing).unwrap(), hello);
    }

    #[test]
    fn decode_server_hello_v1_1() {
        // ntf/server_hello/v1_1 and v1_1/key_ignored
        let wire = h(&format!("0001000120{SID}"));
        let hello = NtfServerHello::parse(&wire).unwrap();
        assert_eq!(hello.signed_key, None);
        assert_eq!(hello.to_bytes(), wire);
        let with_key = h(&format!("0001000120{SID}007a{SIGNED_KEY}"));
        assert_eq!(NtfServerHello::parse(&with_key).unwrap().to_bytes(), wire);
    }

    #[test]
    fn decode_server_hello_empty_session() {
        // ntf/server_hello/empty_session
        let wire = h(&format!("0001000300007a{SIGNED_KEY}"));
        let hello = NtfServerHello::parse(&wire).unwrap();
        assert!(hello.session_id.is_empty());
        assert_eq!(hello.to_bytes(), wire);
    }

    #[test]
    fn rejects_bad_server_hellos() {
        // ntf/server_hello/v1_3/trunc_83
        let wire = h(&format!("0001000320{SID}007a{SIGNED_KEY}"));
        assert_eq!(
            NtfServerHello::parse(&wire[..83]).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        // ntf/server_hello/invalid/bad_signed_object: the key is required from v2
        let wire = h(&format!(
            "0001000320{SID}00136e6f742061207369676e6564206f626a656374"
        ));
        let e = NtfServerHello::parse(&wire).unwrap_err();
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::BadKey, 37));
        // a missing key is an error too (not optional as in SMP)
        let wire = h(&format!("0001000220{SID}"));
        assert_eq!(
            NtfServerHello::parse(&wire).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
    }

    #[test]
    fn decode_client_hellos() {
        // ntf/client_hello/v3 and v3/trailing_ignored
        let kh = "8ff07402bf0d1ebd54722951779a75c61c92cb37fc1d2ffc53c86c3c2e00ac2e";
        let wire = h(&format!("000320{kh}"));
        let c = NtfClientHello::parse(&wire).unwrap();
        assert_eq!(
            c,
            NtfClientHello {
                version: Version(3),
                key_hash: h(kh)
            }
        );
        assert_eq!(c.to_bytes(), wire);
        let mut trailing = wire.clone();
        trailing.extend_from_slice(b"\x00\x01");
        assert_eq!(NtfClientHello::parse(&trailing).unwrap(), c);
        // ntf/client_hello/v3/trunc_6 and trunc_27
        assert_eq!(
            NtfClientHello::parse(&wire[..6]).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        assert_eq!(
            NtfClientHello::parse(&wire[..27]).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
    }

    #[test]
    fn server_negotiation() {
        let c = NtfClientHello {
            version: Version(3),
            key_hash: alloc::vec![1; 32],
        };
        let a = server_negotiate(version::SUPPORTED, &[1; 32], &c).unwrap();
        assert_eq!((a.version, a.range), (Version(3), range(1, 3)));
        assert!(a.batch() && a.implied_session_id());
        assert_eq!(
            server_negotiate(version::SUPPORTED, &[2; 32], &c),
            Err(TransportError::Handshake(HandshakeError::Identity))
        );
        let c4 = NtfClientHello {
            version: Version(4),
            ..c.clone()
        };
        assert_eq!(
            server_negotiate(version::SUPPORTED, &[1; 32], &c4),
            Err(TransportError::Version)
        );
        let legacy = server_offer(false, version::SUPPORTED);
        assert_eq!(
            server_negotiate(legacy, &[1; 32], &c),
            Err(TransportError::Version)
        );
        let c1 = NtfClientHello {
            version: Version(1),
            ..c
        };
        let a = server_negotiate(legacy, &[1; 32], &c1).unwrap();
        assert!(!a.batch());
    }

    #[test]
    fn client_negotiation() {
        let hello = NtfServerHello::parse(&h(&format!("0001000320{SID}007a{SIGNED_KEY}"))).unwrap();
        let key = Certificate::from_der(&h(LEAF))
            .unwrap()
            .public_key()
            .unwrap();
        let a = client_negotiate(version::SUPPORTED, &h(SID), Some(&key), &hello).unwrap();
        assert_eq!(a.version, Version(3));
        assert_eq!(a.server_key.unwrap()[..], h(&SIGNED_KEY[32..96])[..]);
        assert_eq!(
            client_negotiate(version::SUPPORTED, &[0; 32], Some(&key), &hello),
            Err(TransportError::Session)
        );
        let wrong = PublicKey::Ed25519(ed25519_public(&[1; 32]));
        let bad_auth = Err(TransportError::Handshake(HandshakeError::BadAuth));
        assert_eq!(
            client_negotiate(version::SUPPORTED, &h(SID), Some(&wrong), &hello),
            bad_auth
        );
        assert_eq!(
            client_negotiate(version::SUPPORTED, &h(SID), None, &hello),
            bad_auth
        );
        assert_eq!(
            client_negotiate(range(4, 5), &h(SID), Some(&key), &hello),
            Err(TransportError::Version)
        );
        let old = NtfServerHello {
            version_range: range(1, 1),
            session_id: h(SID),
            signed_key: None,
        };
        let a = client_negotiate(version::SUPPORTED, &h(SID), None, &old).unwrap();
        assert_eq!((a.version, a.server_key), (Version(1), None));
    }

    #[test]
    fn client_negotiation_with_a_verifier() {
        // an Ed448-signed session key (the reference's default credentials), with a stand-in
        // signature and a verifier that accepts exactly it
        let ed448 = PublicKey::Ed448([3; 57]);
        let sig = Signature::Ed448([8; 114]);
        let signed =
            SignedKey::sign_with(&PublicKey::X25519([6; 32]), |_| Ok::<_, ()>(sig)).unwrap();
        let hello = NtfServerHello {
            version_range: version::SUPPORTED,
            session_id: h(SID),
            signed_key: Some(signed),
        };
        let ed448_ok = |k: &PublicKey, s: &Signature, _: &[u8]| {
            if (*k, *s) == (ed448, sig) {
                Ok(())
            } else {
                Err(CryptoError::BadSignature)
            }
        };
        let a = client_negotiate_with(version::SUPPORTED, &h(SID), Some(&ed448), &hello, &ed448_ok)
            .unwrap();
        assert_eq!(a.server_key, Some([6; 32]));
        let bad_auth = Err(TransportError::Handshake(HandshakeError::BadAuth));
        let other = PublicKey::Ed448([4; 57]);
        assert_eq!(
            client_negotiate_with(version::SUPPORTED, &h(SID), Some(&other), &hello, &ed448_ok),
            bad_auth
        );
        // the built-in verifier has no Ed448: BAD_AUTH, not a panic
        assert_eq!(
            client_negotiate(version::SUPPORTED, &h(SID), Some(&ed448), &hello),
            bad_auth
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_forms() {
        let hello = NtfServerHello::parse(&h(&format!("0001000320{SID}007a{SIGNED_KEY}"))).unwrap();
        let j = serde_json::to_value(&hello).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"version_range": [1, 3], "session_id": SID, "signed_key": SIGNED_KEY})
        );
        assert_eq!(serde_json::from_value::<NtfServerHello>(j).unwrap(), hello);
        let c = NtfClientHello {
            version: Version(2),
            key_hash: alloc::vec![0xab],
        };
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j, serde_json::json!({"version": 2, "key_hash": "ab"}));
        assert_eq!(serde_json::from_value::<NtfClientHello>(j).unwrap(), c);
    }

    proptest! {
        #[test]
        fn server_hello_round_trip(a in 0u16..5, b in 0u16..5, sid in proptest::collection::vec(any::<u8>(), 0..64), seed in any::<[u8; 32]>(), k in any::<[u8; 32]>()) {
            let version_range = range(a.min(b), a.max(b));
            let signed_key = (version_range.max() >= version::AUTH_BATCH_CMDS)
                .then(|| SignedKey::sign_ed25519(&seed, &PublicKey::X25519(k)));
            let hello = NtfServerHello { version_range, session_id: sid, signed_key };
            prop_assert_eq!(NtfServerHello::parse(&hello.to_bytes()).unwrap(), hello);
        }

        #[test]
        fn client_hello_round_trip(v: u16, kh in proptest::collection::vec(any::<u8>(), 0..=255)) {
            let c = NtfClientHello { version: Version(v), key_hash: kh };
            prop_assert_eq!(NtfClientHello::parse(&c.to_bytes()).unwrap(), c);
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = NtfServerHello::parse(&b);
            let _ = NtfClientHello::parse(&b);
        }
    }
}
