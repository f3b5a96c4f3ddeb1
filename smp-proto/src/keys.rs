//! Public and private keys as they travel on the wire.
//!
//! ```text
//! public-key  = short-bytes ; X.509 SubjectPublicKeyInfo DER
//! private-key = short-bytes ; PKCS#8 PrivateKeyInfo DER (version 0, no public key)
//! ```
//!
//! The reference decodes DER with a general ASN.1 parser and then requires exactly one key of a
//! known algorithm. For the four algorithms it knows (Ed25519, Ed448, X25519, X448, RFC 8410) the
//! only DER that yields such a key is the fixed prefix below followed by the raw key, so decoding
//! matches that prefix exactly; anything else is [`DecodeErrorKind::BadKey`].

use alloc::vec::Vec;

use crate::coding::{Decode, Encode, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};

pub use crate::auth_key_ref::AuthPrivateKeyRef;

/// Key algorithms of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum KeyAlgorithm {
    /// Ed25519 signatures.
    Ed25519,
    /// Ed448 signatures.
    Ed448,
    /// X25519 key agreement (also used for command authenticators).
    X25519,
    /// X448 key agreement.
    X448,
}

impl KeyAlgorithm {
    /// Raw public key length in bytes.
    pub const fn public_len(self) -> usize {
        match self {
            Self::Ed25519 | Self::X25519 => 32,
            Self::Ed448 => 57,
            Self::X448 => 56,
        }
    }

    /// Raw private key length in bytes (the seed for Ed25519/Ed448).
    pub const fn private_len(self) -> usize {
        self.public_len()
    }

    /// The name used in JSON forms: `ed25519`, `ed448`, `x25519`, `x448`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Ed448 => "ed448",
            Self::X25519 => "x25519",
            Self::X448 => "x448",
        }
    }

    /// Parses a JSON name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "ed25519" => Self::Ed25519,
            "ed448" => Self::Ed448,
            "x25519" => Self::X25519,
            "x448" => Self::X448,
            _ => return None,
        })
    }

    /// RFC 8410 object identifier's last byte (1.3.101.x).
    const fn oid_last(self) -> u8 {
        match self {
            Self::X25519 => 0x6e,
            Self::X448 => 0x6f,
            Self::Ed25519 => 0x70,
            Self::Ed448 => 0x71,
        }
    }

    const ALL: [KeyAlgorithm; 4] = [Self::Ed25519, Self::Ed448, Self::X25519, Self::X448];

    /// Whether the reference accepts the algorithm for command authorization
    /// (signature algorithms, and X25519 authenticators).
    pub const fn is_auth(self) -> bool {
        !matches!(self, Self::X448)
    }
}

/// SubjectPublicKeyInfo DER prefix: SEQ { SEQ { OID 1.3.101.x } BIT STRING (0 unused bits) }.
fn spki_prefix(alg: KeyAlgorithm) -> [u8; 12] {
    let n = alg.public_len() as u8;
    [0x30, n + 10, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, alg.oid_last(), 0x03, n + 1, 0x00]
}

/// PKCS#8 DER prefix: SEQ { INTEGER 0, SEQ { OID 1.3.101.x }, OCTET STRING { OCTET STRING key } }.
fn pkcs8_prefix(alg: KeyAlgorithm) -> [u8; 16] {
    let n = alg.private_len() as u8;
    [0x30, n + 14, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, alg.oid_last(), 0x04, n + 2, 0x04, n]
}

/// The methods shared by [`PublicKey`] and [`PrivateKey`]: both hold the raw key of one of the
/// four algorithms, and differ only in the DER wrapping (`$prefix`).
macro_rules! raw_key_methods {
    ($ty:ident, $prefix:ident, $der:literal) => {
        impl $ty {
            /// The algorithm.
            pub const fn algorithm(&self) -> KeyAlgorithm {
                match self {
                    Self::Ed25519(_) => KeyAlgorithm::Ed25519,
                    Self::Ed448(_) => KeyAlgorithm::Ed448,
                    Self::X25519(_) => KeyAlgorithm::X25519,
                    Self::X448(_) => KeyAlgorithm::X448,
                }
            }

            /// The raw key bytes.
            pub fn raw(&self) -> &[u8] {
                match self {
                    Self::Ed25519(k) | Self::X25519(k) => k,
                    Self::Ed448(k) => k,
                    Self::X448(k) => k,
                }
            }

            /// A key from its algorithm and raw bytes; `None` on a length mismatch.
            pub fn from_raw(alg: KeyAlgorithm, raw: &[u8]) -> Option<Self> {
                Some(match alg {
                    KeyAlgorithm::Ed25519 => Self::Ed25519(raw.try_into().ok()?),
                    KeyAlgorithm::Ed448 => Self::Ed448(raw.try_into().ok()?),
                    KeyAlgorithm::X25519 => Self::X25519(raw.try_into().ok()?),
                    KeyAlgorithm::X448 => Self::X448(raw.try_into().ok()?),
                })
            }

            #[doc = concat!("The ", $der, ".")]
            pub fn to_der(&self) -> Vec<u8> {
                let prefix = $prefix(self.algorithm());
                let mut v = Vec::with_capacity(prefix.len() + self.raw().len());
                v.extend_from_slice(&prefix);
                v.extend_from_slice(self.raw());
                v
            }

            #[doc = concat!("Parses the ", $der, "; `None` for anything but one of the four algorithms.")]
            pub fn from_der(der: &[u8]) -> Option<Self> {
                let (alg, raw) = Self::split_der(der)?;
                Self::from_raw(alg, raw)
            }

            #[doc = concat!("The algorithm and the raw key of the ", $der, ", borrowed (what [`Self::from_der`] accepts); `None` for anything else.")]
            pub fn split_der(der: &[u8]) -> Option<(KeyAlgorithm, &[u8])> {
                // unrolled over the algorithms, so each prefix is a constant
                KeyAlgorithm::ALL.into_iter().find_map(|alg| {
                    let prefix = $prefix(alg);
                    // the length alone rules out most algorithms before any comparison
                    if der.len() != prefix.len() + alg.public_len() {
                        return None;
                    }
                    Some((alg, der.strip_prefix(&prefix[..])?))
                })
            }
        }
    };
}

/// A public key of any protocol algorithm, holding the raw key bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// Ed25519 verification key.
    Ed25519([u8; 32]),
    /// Ed448 verification key.
    Ed448([u8; 57]),
    /// X25519 key.
    X25519([u8; 32]),
    /// X448 key.
    X448([u8; 56]),
}

raw_key_methods!(PublicKey, spki_prefix, "X.509 SubjectPublicKeyInfo DER");

impl Encode for PublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        let prefix = spki_prefix(self.algorithm());
        out.push((prefix.len() + self.raw().len()) as u8);
        out.extend_from_slice(&prefix);
        out.extend_from_slice(self.raw());
    }
}

impl<'a> Decode<'a> for PublicKey {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let der = r.short_bytes("public key")?;
        PublicKey::from_der(der).ok_or(DecodeError::new(DecodeErrorKind::BadKey, at, "X.509 public key DER"))
    }
}

/// An X25519 public key: the only algorithm the protocol accepts for DH keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct X25519PublicKey(pub [u8; 32]);

impl From<X25519PublicKey> for PublicKey {
    fn from(k: X25519PublicKey) -> Self {
        PublicKey::X25519(k.0)
    }
}

impl TryFrom<PublicKey> for X25519PublicKey {
    type Error = PublicKey;
    fn try_from(k: PublicKey) -> Result<Self, PublicKey> {
        match k {
            PublicKey::X25519(raw) => Ok(Self(raw)),
            other => Err(other),
        }
    }
}

impl Encode for X25519PublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        PublicKey::from(*self).encode(out);
    }
}

impl<'a> Decode<'a> for X25519PublicKey {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        X25519PublicKey::try_from(PublicKey::decode(r)?)
            .map_err(|_| DecodeError::new(DecodeErrorKind::BadKey, at, "X25519 public key"))
    }
}

/// A public key for command authorization: Ed25519 or Ed448 (signatures) or X25519
/// (crypto_box authenticators). X448 is rejected, as in the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthPublicKey(PublicKey);

impl AuthPublicKey {
    /// Wraps a key of an authorization algorithm; `None` for X448.
    pub fn new(k: PublicKey) -> Option<Self> {
        k.algorithm().is_auth().then_some(Self(k))
    }

    /// The key.
    pub const fn key(&self) -> &PublicKey {
        &self.0
    }
}

impl Encode for AuthPublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl<'a> Decode<'a> for AuthPublicKey {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        AuthPublicKey::new(PublicKey::decode(r)?)
            .ok_or(DecodeError::new(DecodeErrorKind::BadKey, at, "authorization public key"))
    }
}

/// A private key of any protocol algorithm, holding the raw private key (seed for Ed25519/Ed448).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PrivateKey {
    /// Ed25519 seed.
    Ed25519([u8; 32]),
    /// Ed448 seed.
    Ed448([u8; 57]),
    /// X25519 scalar.
    X25519([u8; 32]),
    /// X448 scalar.
    X448([u8; 56]),
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({}, ..)", self.algorithm().name())
    }
}

raw_key_methods!(PrivateKey, pkcs8_prefix, "PKCS#8 PrivateKeyInfo DER");

impl Encode for PrivateKey {
    fn encode(&self, out: &mut Vec<u8>) {
        let prefix = pkcs8_prefix(self.algorithm());
        out.push((prefix.len() + self.raw().len()) as u8);
        out.extend_from_slice(&prefix);
        out.extend_from_slice(self.raw());
    }
}

impl<'a> Decode<'a> for PrivateKey {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let der = r.short_bytes("private key")?;
        PrivateKey::from_der(der).ok_or(DecodeError::new(DecodeErrorKind::BadKey, at, "PKCS#8 private key DER"))
    }
}

/// A private key for command authorization (Ed25519, Ed448 or X25519), as sent in `SNEW`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AuthPrivateKey(PrivateKey);

impl AuthPrivateKey {
    /// Wraps a key of an authorization algorithm; `None` for X448.
    pub fn new(k: PrivateKey) -> Option<Self> {
        k.algorithm().is_auth().then_some(Self(k))
    }

    /// The key.
    pub const fn key(&self) -> &PrivateKey {
        &self.0
    }
}

impl Encode for AuthPrivateKey {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl<'a> Decode<'a> for AuthPrivateKey {
    /// As [`AuthPrivateKeyRef`]'s decoder, then owned.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        AuthPrivateKeyRef::decode(r).map(|k| k.to_owned())
    }
}

impl AuthPrivateKey {
    /// A key already checked to be of an authorization algorithm.
    pub(crate) const fn checked(k: PrivateKey) -> Self {
        Self(k)
    }
}

#[cfg(feature = "arbitrary")]
mod arb {
    use super::*;
    use arbitrary::{Arbitrary, Result, Unstructured};

    impl<'a> Arbitrary<'a> for PublicKey {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let alg = KeyAlgorithm::arbitrary(u)?;
            let raw = u.bytes(alg.public_len())?;
            Ok(PublicKey::from_raw(alg, raw).expect("length matches"))
        }
    }

    impl<'a> Arbitrary<'a> for PrivateKey {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let alg = KeyAlgorithm::arbitrary(u)?;
            let raw = u.bytes(alg.private_len())?;
            Ok(PrivateKey::from_raw(alg, raw).expect("length matches"))
        }
    }

    impl<'a> Arbitrary<'a> for AuthPublicKey {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let k = PublicKey::arbitrary(u)?;
            Ok(AuthPublicKey::new(k).unwrap_or(AuthPublicKey(PublicKey::X25519([0; 32]))))
        }
    }

    impl<'a> Arbitrary<'a> for AuthPrivateKey {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let k = PrivateKey::arbitrary(u)?;
            Ok(AuthPrivateKey::new(k).unwrap_or(AuthPrivateKey(PrivateKey::X25519([0; 32]))))
        }
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON forms: `{"alg": NAME, "public": HEX}` and `{"alg": NAME, "private": HEX}`.
    use super::*;
    use crate::json::{hex_decode, hex_encode};
    use alloc::string::String;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct PubJson {
        alg: String,
        public: String,
    }

    #[derive(Serialize, Deserialize)]
    struct PrivJson {
        alg: String,
        private: String,
    }

    impl Serialize for PublicKey {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            PubJson { alg: self.algorithm().name().into(), public: hex_encode(self.raw()) }.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for PublicKey {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = PubJson::deserialize(d)?;
            let alg = KeyAlgorithm::from_name(&j.alg).ok_or_else(|| D::Error::custom("unknown key algorithm"))?;
            let raw = hex_decode(&j.public).map_err(D::Error::custom)?;
            PublicKey::from_raw(alg, &raw).ok_or_else(|| D::Error::custom("bad public key length"))
        }
    }

    impl Serialize for PrivateKey {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            PrivJson { alg: self.algorithm().name().into(), private: hex_encode(self.raw()) }.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for PrivateKey {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = PrivJson::deserialize(d)?;
            let alg = KeyAlgorithm::from_name(&j.alg).ok_or_else(|| D::Error::custom("unknown key algorithm"))?;
            let raw = hex_decode(&j.private).map_err(D::Error::custom)?;
            PrivateKey::from_raw(alg, &raw).ok_or_else(|| D::Error::custom("bad private key length"))
        }
    }

    impl Serialize for X25519PublicKey {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            PublicKey::from(*self).serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for X25519PublicKey {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            X25519PublicKey::try_from(PublicKey::deserialize(d)?).map_err(|_| D::Error::custom("expected an x25519 key"))
        }
    }

    impl Serialize for AuthPublicKey {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for AuthPublicKey {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            AuthPublicKey::new(PublicKey::deserialize(d)?).ok_or_else(|| D::Error::custom("not an authorization key"))
        }
    }

    impl Serialize for AuthPrivateKey {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for AuthPrivateKey {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            AuthPrivateKey::new(PrivateKey::deserialize(d)?).ok_or_else(|| D::Error::custom("not an authorization key"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // X25519 SPKI DER as produced by the reference (from a TNEW in the conformance vectors)
    const X25519_DER: &str = "302a300506032b656e032100e78fb52e4a9f76b1b4f42e47ea555fe73c49776129128eb4010c8d9b0046d222";

    #[test]
    fn decodes_reference_x25519_spki() {
        let der = hex::decode(X25519_DER).unwrap();
        let k = PublicKey::from_der(&der).unwrap();
        assert_eq!(k.algorithm(), KeyAlgorithm::X25519);
        assert_eq!(k.to_der(), der);
    }

    #[test]
    fn ed448_and_x448_prefixes_match_rfc8410() {
        let k = PublicKey::Ed448([7; 57]);
        assert_eq!(&k.to_der()[..12], &hex::decode("3043300506032b6571033a00").unwrap()[..]);
        let k = PublicKey::X448([7; 56]);
        assert_eq!(&k.to_der()[..12], &hex::decode("3042300506032b656f033900").unwrap()[..]);
    }

    #[test]
    fn pkcs8_matches_reference() {
        let der = hex::decode("302e020100300506032b6570042204208ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff").unwrap();
        let k = PrivateKey::from_der(&der).unwrap();
        assert_eq!(k.algorithm(), KeyAlgorithm::Ed25519);
        assert_eq!(k.to_der(), der);
    }

    #[test]
    fn rejects_truncated_and_wrong_length_der() {
        let mut der = hex::decode(X25519_DER).unwrap();
        der.pop();
        assert!(PublicKey::from_der(&der).is_none());
        let mut w = alloc::vec![der.len() as u8];
        w.extend_from_slice(&der);
        assert_eq!(PublicKey::decode_exact(&w).unwrap_err().kind, DecodeErrorKind::BadKey);
    }

    #[test]
    fn der_round_trips_for_every_algorithm_and_the_oid_picks_it() {
        for alg in KeyAlgorithm::ALL {
            let raw = alloc::vec![9u8; alg.public_len()];
            let (p, k) = (PublicKey::from_raw(alg, &raw).unwrap(), PrivateKey::from_raw(alg, &raw).unwrap());
            assert_eq!(PublicKey::from_der(&p.to_der()), Some(p));
            assert_eq!(PrivateKey::from_der(&k.to_der()), Some(k.clone()));
            // the OID picks the algorithm: a 32-byte key under the other 32-byte algorithm's
            // OID is that algorithm's key; under the other 448 OID the length no longer fits
            let (other, same_len) = match alg {
                KeyAlgorithm::Ed25519 => (KeyAlgorithm::X25519, true),
                KeyAlgorithm::X25519 => (KeyAlgorithm::Ed25519, true),
                KeyAlgorithm::Ed448 => (KeyAlgorithm::X448, false),
                KeyAlgorithm::X448 => (KeyAlgorithm::Ed448, false),
            };
            let expect_pub = same_len.then(|| PublicKey::from_raw(other, &raw).unwrap());
            let expect_priv = same_len.then(|| PrivateKey::from_raw(other, &raw).unwrap());
            let (mut dp, mut dk) = (p.to_der(), k.to_der());
            dp[8] = other.oid_last();
            dk[11] = other.oid_last();
            assert_eq!(PublicKey::from_der(&dp), expect_pub);
            assert_eq!(PrivateKey::from_der(&dk), expect_priv);
            // an OID of no protocol algorithm
            dp[8] = 0x72;
            dk[11] = 0x72;
            assert_eq!(PublicKey::from_der(&dp), None);
            assert_eq!(PrivateKey::from_der(&dk), None);
            // a PKCS#8 body is not an SPKI one, and the other way round
            assert_eq!(PublicKey::from_der(&k.to_der()), None);
            assert_eq!(PrivateKey::from_der(&p.to_der()), None);
        }
    }

    #[test]
    fn dh_key_must_be_x25519() {
        let ed = PublicKey::Ed25519([1; 32]).to_bytes();
        assert_eq!(X25519PublicKey::decode_exact(&ed).unwrap_err().kind, DecodeErrorKind::BadKey);
        let x448 = PublicKey::X448([1; 56]).to_bytes();
        assert_eq!(AuthPublicKey::decode_exact(&x448).unwrap_err().kind, DecodeErrorKind::BadKey);
    }
}
