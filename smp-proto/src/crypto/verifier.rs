//! Pluggable signature verification for the handshakes' signed keys.
//!
//! A server signs its session X25519 key with the key of its TLS (leaf) certificate, Ed25519 or
//! Ed448 (the reference's `verifyX509` accepts both). This crate verifies Ed25519 itself
//! ([`Ed25519Verifier`], the default); Ed448 needs a backend the caller supplies (there is no
//! maintained no_std Ed448 crate), by implementing [`SignatureVerifier`] — for example over
//! OpenSSL, as the reference transport does.
//!
//! ```text
//! verify(key, signature, msg) = Ok            ; the signature is valid
//!                             / BadSignature  ; invalid, or key and signature algorithms differ
//!                             / Unsupported   ; the verifier has no implementation of the algorithm
//! ```

use super::{verify_ed25519, CryptoError, Signature};
use crate::keys::PublicKey;

/// Verifies a signature over a message with a public key (the reference's `verify`).
pub trait SignatureVerifier {
    /// `Ok(())` when `sig` is a valid signature of `msg` by `key`.
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] for an invalid signature or a key of another algorithm than
    /// the signature's (or not a signature key); [`CryptoError::Unsupported`] when the verifier
    /// cannot check the algorithm.
    fn verify(&self, key: &PublicKey, sig: &Signature, msg: &[u8]) -> Result<(), CryptoError>;
}

/// Any function of the same shape is a verifier.
impl<F> SignatureVerifier for F
where
    F: Fn(&PublicKey, &Signature, &[u8]) -> Result<(), CryptoError>,
{
    fn verify(&self, key: &PublicKey, sig: &Signature, msg: &[u8]) -> Result<(), CryptoError> {
        self(key, sig, msg)
    }
}

/// The built-in verifier: Ed25519 only; an Ed448 signature with an Ed448 key is
/// [`CryptoError::Unsupported`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ed25519Verifier;

impl SignatureVerifier for Ed25519Verifier {
    fn verify(&self, key: &PublicKey, sig: &Signature, msg: &[u8]) -> Result<(), CryptoError> {
        match (key, sig) {
            (PublicKey::Ed25519(k), Signature::Ed25519(s)) if verify_ed25519(k, s, msg) => Ok(()),
            (PublicKey::Ed448(_), Signature::Ed448(_)) => Err(CryptoError::Unsupported),
            _ => Err(CryptoError::BadSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{ed25519_public, sign_ed25519};

    #[test]
    fn ed25519_only() {
        let seed = [5u8; 32];
        let key = PublicKey::Ed25519(ed25519_public(&seed));
        let sig = Signature::Ed25519(sign_ed25519(&seed, b"msg"));
        assert_eq!(Ed25519Verifier.verify(&key, &sig, b"msg"), Ok(()));
        assert_eq!(
            Ed25519Verifier.verify(&key, &sig, b"other"),
            Err(CryptoError::BadSignature)
        );
        let ed448 = Signature::Ed448([1; 114]);
        assert_eq!(
            Ed25519Verifier.verify(&PublicKey::Ed448([2; 57]), &ed448, b"msg"),
            Err(CryptoError::Unsupported)
        );
        // algorithm mismatches are bad signatures, not unsupported ones
        assert_eq!(
            Ed25519Verifier.verify(&key, &ed448, b"msg"),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            Ed25519Verifier.verify(&PublicKey::Ed448([2; 57]), &sig, b"msg"),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            Ed25519Verifier.verify(&PublicKey::X25519([2; 32]), &sig, b"msg"),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn closures_are_verifiers() {
        let accept_all = |_: &PublicKey, _: &Signature, _: &[u8]| Ok(());
        let v: &dyn SignatureVerifier = &accept_all;
        assert_eq!(
            v.verify(&PublicKey::Ed448([0; 57]), &Signature::Ed448([0; 114]), b""),
            Ok(())
        );
    }
}
