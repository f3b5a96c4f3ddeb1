//! A private key for command authorization borrowed from the input (as `SNEW` carries it).
//!
//! ```text
//! private-key = short-bytes ; PKCS#8 PrivateKeyInfo DER (version 0, no public key)
//! ```
//!
//! The view points at the raw key inside the DER, so decoding copies no key bytes; the owned
//! [`AuthPrivateKey`] decoder is this one followed by `to_owned`, so both give the same errors.

use core::fmt;

use crate::coding::{Decode, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::keys::{AuthPrivateKey, KeyAlgorithm, PrivateKey};

/// A private key for command authorization (Ed25519, Ed448 or X25519), borrowed: the raw key
/// inside its PKCS#8 DER.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthPrivateKeyRef<'a> {
    /// Ed25519 seed.
    Ed25519(&'a [u8; 32]),
    /// Ed448 seed.
    Ed448(&'a [u8; 57]),
    /// X25519 scalar.
    X25519(&'a [u8; 32]),
}

impl AuthPrivateKeyRef<'_> {
    /// The algorithm.
    pub const fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Ed25519(_) => KeyAlgorithm::Ed25519,
            Self::Ed448(_) => KeyAlgorithm::Ed448,
            Self::X25519(_) => KeyAlgorithm::X25519,
        }
    }

    /// The owned key.
    #[inline]
    pub fn to_owned(&self) -> AuthPrivateKey {
        AuthPrivateKey::checked(match *self {
            Self::Ed25519(k) => PrivateKey::Ed25519(*k),
            Self::Ed448(k) => PrivateKey::Ed448(*k),
            Self::X25519(k) => PrivateKey::X25519(*k),
        })
    }
}

impl fmt::Debug for AuthPrivateKeyRef<'_> {
    /// Shows the algorithm only, never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthPrivateKeyRef({}, ..)", self.algorithm().name())
    }
}

impl<'a> Decode<'a> for AuthPrivateKeyRef<'a> {
    /// # Errors
    /// `Truncated` for missing bytes; `BadKey` (at the length byte) for DER that is not a key
    /// of the four algorithms, or for an X448 key.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        let der = r.short_bytes("private key")?;
        let bad = |expected| DecodeError::new(DecodeErrorKind::BadKey, at, expected);
        let (alg, raw) = PrivateKey::split_der(der).ok_or(bad("PKCS#8 private key DER"))?;
        let len = || bad("PKCS#8 private key DER");
        Ok(match alg {
            KeyAlgorithm::Ed25519 => Self::Ed25519(raw.try_into().map_err(|_| len())?),
            KeyAlgorithm::Ed448 => Self::Ed448(raw.try_into().map_err(|_| len())?),
            KeyAlgorithm::X25519 => Self::X25519(raw.try_into().map_err(|_| len())?),
            KeyAlgorithm::X448 => return Err(bad("authorization private key")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::Encode;

    #[test]
    fn view_and_owned_decoders_agree() {
        for alg in [
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Ed448,
            KeyAlgorithm::X25519,
        ] {
            let raw = alloc::vec![5u8; alg.private_len()];
            let k = AuthPrivateKey::new(PrivateKey::from_raw(alg, &raw).unwrap()).unwrap();
            let b = k.to_bytes();
            let v = AuthPrivateKeyRef::decode_exact(&b).unwrap();
            assert_eq!(v.algorithm(), alg);
            assert_eq!(v.to_owned(), k);
            assert_eq!(AuthPrivateKey::decode_exact(&b).unwrap(), k);
        }
        // X448 is a key, but not for authorization
        let x448 = PrivateKey::X448([5; 56]).to_bytes();
        let e = AuthPrivateKeyRef::decode_exact(&x448).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.expected),
            (DecodeErrorKind::BadKey, 0, "authorization private key")
        );
        assert_eq!(AuthPrivateKey::decode_exact(&x448).unwrap_err(), e);
        // not a key
        let e = AuthPrivateKeyRef::decode_exact(b"\x03abc").unwrap_err();
        assert_eq!(
            (e.kind, e.expected),
            (DecodeErrorKind::BadKey, "PKCS#8 private key DER")
        );
        assert_eq!(
            AuthPrivateKeyRef::decode_exact(b"\x30").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        // the key bytes are not shown
        let k = PrivateKey::Ed25519([0xab; 32]).to_bytes();
        let s = alloc::format!("{:?}", AuthPrivateKeyRef::decode_exact(&k).unwrap());
        assert!(!s.contains("171") && !s.contains("ab"), "{s}");
    }
}
