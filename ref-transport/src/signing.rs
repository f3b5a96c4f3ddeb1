//! Signature algorithms of server credentials, and the OpenSSL-backed signing and verification
//! of the handshakes' signed session keys (Ed25519 and Ed448).
//!
//! ```text
//! sign-algorithm = "ed25519" / "ed448"          ; --sign-algorithm, case-insensitive
//! signed-key     = SEQUENCE { SEQUENCE { SubjectPublicKeyInfo }   ; the signed bytes
//!                             AlgorithmIdentifier                 ; 1.3.101.112 / 1.3.101.113
//!                             BIT STRING signature }              ; 64 / 114 bytes
//! ```
//!
//! The codecs verify Ed25519 only; [`OpenSslVerifier`] adds Ed448 (the reference servers'
//! default credentials) and is what the client handshakes here use. Both EdDSA variants are
//! deterministic (RFC 8032, Ed448 with an empty context), so a key signed here has the same
//! bytes as the reference's `signX509` of the same key with the same private key.

use std::fmt;
use std::str::FromStr;

use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::sign::{Signer, Verifier};
use smp_proto::crypto::{CryptoError, Ed25519Verifier, Signature, SignatureVerifier, SignedKey};
use smp_proto::keys::PublicKey;

use crate::Error;

/// The signature algorithm of a certificate key (the reference's `SignAlgorithm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignAlgorithm {
    /// Ed25519.
    Ed25519,
    /// Ed448, the reference's default for new servers.
    #[default]
    Ed448,
}

impl SignAlgorithm {
    /// The algorithm of a key; `None` for other key types.
    pub fn of_key<T: HasPublic>(key: &PKeyRef<T>) -> Option<Self> {
        match key.id() {
            Id::ED25519 => Some(Self::Ed25519),
            Id::ED448 => Some(Self::Ed448),
            _ => None,
        }
    }

    /// A fresh private key.
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn generate(self) -> Result<PKey<Private>, Error> {
        Ok(match self {
            Self::Ed25519 => PKey::generate_ed25519()?,
            Self::Ed448 => PKey::generate_ed448()?,
        })
    }
}

impl fmt::Display for SignAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ed25519 => "ed25519",
            Self::Ed448 => "ed448",
        })
    }
}

impl FromStr for SignAlgorithm {
    type Err = String;

    /// `ed25519` or `ed448`, in any case (the reference spells them `ED25519`, `ED448`).
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("ed25519") {
            Ok(Self::Ed25519)
        } else if s.eq_ignore_ascii_case("ed448") {
            Ok(Self::Ed448)
        } else {
            Err(format!(
                "unknown signature algorithm {s:?} (ed25519 or ed448)"
            ))
        }
    }
}

/// Signs `key` with an Ed25519 or Ed448 private key (`signX509` of `publicToX509`), as a
/// server signs its session X25519 key with its TLS (leaf) key.
///
/// # Errors
/// [`Error::OpenSsl`] when signing fails, [`Error::Credentials`] for a key that is neither
/// Ed25519 nor Ed448.
pub fn sign_key(signer: &PKeyRef<Private>, key: &PublicKey) -> Result<SignedKey, Error> {
    let alg = SignAlgorithm::of_key(signer)
        .ok_or_else(|| Error::Credentials("signing key is neither Ed25519 nor Ed448".into()))?;
    SignedKey::sign_with(key, |obj| {
        let bytes = Signer::new_without_digest(signer)?.sign_oneshot_to_vec(obj)?;
        match (alg, Signature::from_bytes(&bytes)) {
            (SignAlgorithm::Ed25519, Some(s @ Signature::Ed25519(_)))
            | (SignAlgorithm::Ed448, Some(s @ Signature::Ed448(_))) => Ok(s),
            _ => Err(Error::Credentials(format!(
                "{alg} signature of unexpected length {}",
                bytes.len()
            ))),
        }
    })
}

/// Verifies Ed448 signatures with OpenSSL and delegates everything else to the codecs'
/// [`Ed25519Verifier`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenSslVerifier;

impl SignatureVerifier for OpenSslVerifier {
    fn verify(&self, key: &PublicKey, sig: &Signature, msg: &[u8]) -> Result<(), CryptoError> {
        match (key, sig) {
            (PublicKey::Ed448(k), Signature::Ed448(s)) => verify_ed448(k, s, msg),
            _ => Ed25519Verifier.verify(key, sig, msg),
        }
    }
}

fn verify_ed448(key: &[u8], sig: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
    let valid = (|| -> Result<bool, openssl::error::ErrorStack> {
        let key = PKey::public_key_from_raw_bytes(key, Id::ED448)?;
        let valid = Verifier::new_without_digest(&key)?.verify_oneshot(sig, msg);
        valid
    })();
    match valid {
        Ok(true) => Ok(()),
        // an invalid point or signature encoding is an OpenSSL error: a bad signature all the same
        _ => Err(CryptoError::BadSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp_proto::crypto::ED448_SIGNATURE_LEN;

    fn h(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // RFC 8032 section 7.4, "Blank": pure Ed448, empty context, empty message
    const RFC8032_SECRET: &str = "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b";
    const RFC8032_PUBLIC: &str = "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180";
    const RFC8032_SIG: &str = "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600";

    fn rfc_key() -> PKey<Private> {
        PKey::private_key_from_raw_bytes(&h(RFC8032_SECRET), Id::ED448).unwrap()
    }

    fn ed448_public(k: &PKey<Private>) -> PublicKey {
        PublicKey::from_raw(
            smp_proto::keys::KeyAlgorithm::Ed448,
            &k.raw_public_key().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn openssl_ed448_is_rfc8032_ed448() {
        // the EdDSA the reference uses (cryptonite's Ed448): pure, no context
        let key = rfc_key();
        assert_eq!(key.raw_public_key().unwrap(), h(RFC8032_PUBLIC));
        let sig = Signer::new_without_digest(&key)
            .unwrap()
            .sign_oneshot_to_vec(b"")
            .unwrap();
        assert_eq!(sig, h(RFC8032_SIG));
        let sig = Signature::from_bytes(&sig).unwrap();
        let public = ed448_public(&key);
        assert_eq!(OpenSslVerifier.verify(&public, &sig, b""), Ok(()));
        assert_eq!(
            OpenSslVerifier.verify(&public, &sig, b"x"),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn ed448_signed_key_verifies_and_tampering_fails() {
        let key = rfc_key();
        let public = ed448_public(&key);
        let dh = PublicKey::X25519([0x42; 32]);
        let sk = sign_key(&key, &dh).unwrap();
        // the reference's layout: Ed448 AlgorithmIdentifier and a 114-byte BIT STRING
        assert_eq!(sk.der()[..3], [0x30, 0x81, 0xaa]);
        assert_eq!(
            sk.der()[49..59],
            [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x03, 0x73, 0x00]
        );
        assert_eq!(sk.der().len(), 59 + ED448_SIGNATURE_LEN);
        // deterministic: the same key signs the same bytes (as the reference's signX509 would)
        assert_eq!(sign_key(&key, &dh).unwrap(), sk);
        assert_eq!(
            sk.verify_x25519_with(&public, &OpenSslVerifier),
            Ok([0x42; 32])
        );
        // the codecs' own verifier refuses Ed448 with a typed error
        assert_eq!(sk.verify_x25519(&public), Err(CryptoError::Unsupported));
        // another Ed448 key, or an Ed25519 key
        let other = ed448_public(&PKey::generate_ed448().unwrap());
        assert_eq!(
            sk.verify_with(&other, &OpenSslVerifier),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            sk.verify_with(&PublicKey::Ed25519([9; 32]), &OpenSslVerifier),
            Err(CryptoError::BadSignature)
        );
        // every single-bit flip in the signed key or the signature is rejected
        for i in [3, 20, 48, 59, 100, sk.der().len() - 1] {
            let mut der = sk.der().to_vec();
            der[i] ^= 0x01;
            let r = smp_proto::crypto::SignedKey::from_der(&der)
                .map_err(|_| CryptoError::BadKey)
                .and_then(|t| t.verify_with(&public, &OpenSslVerifier));
            assert!(r.is_err(), "flip at {i} verified");
        }
        // not a valid Ed448 point: an error, not a panic
        let r = sk.verify_with(&PublicKey::Ed448([0xff; 57]), &OpenSslVerifier);
        assert_eq!(r, Err(CryptoError::BadSignature));
    }

    #[test]
    fn ed25519_is_delegated_and_interoperates() {
        let key = PKey::generate_ed25519().unwrap();
        let public = PublicKey::from_raw(
            smp_proto::keys::KeyAlgorithm::Ed25519,
            &key.raw_public_key().unwrap(),
        )
        .unwrap();
        let dh = PublicKey::X25519([7; 32]);
        let sk = sign_key(&key, &dh).unwrap();
        // OpenSSL's Ed25519 signature is the codecs' signature of the same seed
        let seed: [u8; 32] = key.raw_private_key().unwrap().try_into().unwrap();
        assert_eq!(sk, SignedKey::sign_ed25519(&seed, &dh));
        assert_eq!(
            sk.verify_x25519_with(&public, &OpenSslVerifier),
            Ok([7; 32])
        );
        assert_eq!(sk.verify_x25519(&public), Ok([7; 32]));
        // a non-EdDSA key cannot sign
        let ec = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap();
        let ec = PKey::from_ec_key(ec).unwrap();
        assert!(matches!(sign_key(&ec, &dh), Err(Error::Credentials(_))));
    }

    #[test]
    fn algorithm_names() {
        assert_eq!("ED448".parse(), Ok(SignAlgorithm::Ed448));
        assert_eq!("ed25519".parse(), Ok(SignAlgorithm::Ed25519));
        assert!("rsa".parse::<SignAlgorithm>().is_err());
        assert_eq!(SignAlgorithm::default(), SignAlgorithm::Ed448);
        for a in [SignAlgorithm::Ed25519, SignAlgorithm::Ed448] {
            assert_eq!(a.to_string().parse(), Ok(a));
            assert_eq!(SignAlgorithm::of_key(&a.generate().unwrap()), Some(a));
        }
    }
}
