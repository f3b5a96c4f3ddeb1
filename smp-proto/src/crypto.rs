//! The crypto constructions of the protocols, as pure functions (the reference's `Crypto` module).
//!
//! - Ed25519 signatures over the authorized bytes of a transmission;
//! - X25519 Diffie-Hellman and NaCl `crypto_box` (XSalsa20-Poly1305 keyed with HSalsa20 of the
//!   raw X25519 output), sent as `tag(16) || ciphertext`, optionally padded first;
//! - the 80-byte `crypto_box` authenticator of SHA-512(authorized) with the correlation id as nonce;
//! - the secret-box chain keys of SMP transport block encryption (v11+);
//! - X.509 certificates and signed key objects of the handshakes.
//!
//! ```text
//! crypto-box    = tag:16 ciphertext          ; XSalsa20-Poly1305, key = HSalsa20(dh, 0^16)
//! authenticator = crypto-box(SHA-512(authorized)) ; 16 + 64 = 80 bytes, nonce = cbNonce(corr id)
//! signed-key    = SEQUENCE { SEQUENCE { SubjectPublicKeyInfo }, AlgorithmIdentifier, BIT STRING }
//! ```
//!
//! Ed448 signatures parse and re-encode, but there is no maintained no_std Ed448 crate: the
//! built-in checks verify Ed25519 only. A signed key (the handshakes) can be verified with any
//! [`SignatureVerifier`] ([`SignedKey::verify_with`]) and signed by any signer
//! ([`SignedKey::sign_with`]), so a transport with an Ed448 implementation handles Ed448 server
//! credentials; command authorizations with Ed448 keys still never verify here.

use alloc::vec::Vec;

mod verifier;
pub use verifier::{Ed25519Verifier, SignatureVerifier};

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use ed25519_dalek::{Signer, Verifier};
use sha2::{Digest, Sha256, Sha512};

use crate::block::{pad, unpad};
use crate::keys::{KeyAlgorithm, PublicKey};

/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;
/// Length of an Ed448 signature.
pub const ED448_SIGNATURE_LEN: usize = 114;
/// Length of a `crypto_box` authenticator: 16-byte tag + 64-byte SHA-512 digest.
pub const CB_AUTHENTICATOR_LEN: usize = 80;
/// Length of the Poly1305 tag that starts every `crypto_box`.
pub const TAG_LEN: usize = 16;
/// Length of a `crypto_box` nonce.
pub const NONCE_LEN: usize = 24;

/// A crypto failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CryptoError {
    /// The message does not fit the padded length (`CryptoLargeMsgError`).
    LargeMsg,
    /// The padded message is malformed (`CryptoInvalidMsgError`).
    InvalidMsg,
    /// Authentication of a `crypto_box` failed (`CBDecryptError`).
    Decrypt,
    /// A signature or signed object did not verify.
    BadSignature,
    /// A key of the wrong algorithm, or malformed.
    BadKey,
    /// The algorithm is not implemented by the verifier used (Ed448 with [`Ed25519Verifier`]).
    Unsupported,
}

impl core::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::LargeMsg => "message too large for the padded length",
            Self::InvalidMsg => "invalid padded message",
            Self::Decrypt => "decryption failed",
            Self::BadSignature => "bad signature",
            Self::BadKey => "bad key",
            Self::Unsupported => "unsupported algorithm",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CryptoError {}

/// A signature of a signature algorithm (the reference's `ASignature`).
///
/// ```text
/// signature = 64 bytes (Ed25519) / 114 bytes (Ed448)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signature {
    /// Ed25519.
    Ed25519([u8; ED25519_SIGNATURE_LEN]),
    /// Ed448 (parsed and encoded only; see the module docs).
    Ed448([u8; ED448_SIGNATURE_LEN]),
}

impl Signature {
    /// Decodes raw signature bytes by their length (`decodeSignature`); `None` for other lengths.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        match b.len() {
            ED25519_SIGNATURE_LEN => b.try_into().ok().map(Self::Ed25519),
            ED448_SIGNATURE_LEN => b.try_into().ok().map(Self::Ed448),
            _ => None,
        }
    }

    /// The raw signature bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Ed25519(s) => s,
            Self::Ed448(s) => s,
        }
    }

    /// The signature algorithm.
    pub const fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Ed25519(_) => KeyAlgorithm::Ed25519,
            Self::Ed448(_) => KeyAlgorithm::Ed448,
        }
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-512 of `data`.
pub fn sha512(data: &[u8]) -> [u8; 64] {
    Sha512::digest(data).into()
}

/// Normalises bytes to a 24-byte nonce (`cbNonce`): truncated when longer, zero-padded when shorter.
pub fn cb_nonce(bytes: &[u8]) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    let k = bytes.len().min(NONCE_LEN);
    n[..k].copy_from_slice(&bytes[..k]);
    n
}

/// The Ed25519 public key of a 32-byte seed.
pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}

/// Signs `msg` with an Ed25519 seed (`sign'`).
pub fn sign_ed25519(seed: &[u8; 32], msg: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .sign(msg)
        .to_bytes()
}

/// Signs `msg` with an Ed25519 seed whose public key is already known (`public`, as
/// [`ed25519_public`] gives it): the signature [`sign_ed25519`] makes, for about half the cost,
/// since the public key is neither derived again nor decompressed (one scalar multiplication
/// instead of two).
///
/// This is RFC 8032's signing (5.1.6) with the key's public part given, built from
/// ed25519-dalek's expanded key and curve25519-dalek's base-point multiplication; the tests
/// check it byte for byte against [`sign_ed25519`] and RFC 8032's vectors.
///
/// `public` is trusted: with a key that is not the seed's, the signature does not verify.
pub fn sign_ed25519_with_public(
    seed: &[u8; 32],
    public: &[u8; 32],
    msg: &[u8],
) -> [u8; ED25519_SIGNATURE_LEN] {
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use ed25519_dalek::hazmat::ExpandedSecretKey;
    use sha2::{Digest, Sha512};
    let key = ExpandedSecretKey::from(seed);
    // r = H(prefix || M), R = [r]B, k = H(R || A || M), S = r + k * s
    let r = Scalar::from_hash(Sha512::new().chain_update(key.hash_prefix).chain_update(msg));
    let big_r = EdwardsPoint::mul_base(&r).compress();
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(public)
            .chain_update(msg),
    );
    let s = r + k * key.scalar;
    let mut sig = [0u8; ED25519_SIGNATURE_LEN];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// Verifies an Ed25519 signature.
pub fn verify_ed25519(public: &[u8; 32], sig: &[u8; ED25519_SIGNATURE_LEN], msg: &[u8]) -> bool {
    match ed25519_dalek::VerifyingKey::from_bytes(public) {
        Ok(k) => k
            .verify(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok(),
        Err(_) => false,
    }
}

/// Verifies `sig` over `msg` with `key` (`verify`): false when the algorithms differ, when the
/// key is not a signature key, and always for Ed448 (unsupported here).
pub fn verify_signature(key: &PublicKey, sig: &Signature, msg: &[u8]) -> bool {
    match (key, sig) {
        (PublicKey::Ed25519(k), Signature::Ed25519(s)) => verify_ed25519(k, s, msg),
        _ => false,
    }
}

/// The X25519 public key of a private scalar.
pub fn x25519_public(private: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*private, x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// X25519 Diffie-Hellman (`dh'`): the raw shared secret, without the all-zero check (as the reference).
pub fn dh(public: &[u8; 32], private: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*private, *public)
}

fn box_cipher(secret: &[u8; 32]) -> XSalsa20Poly1305 {
    // The reference's xSalsa20 first derives HSalsa20(secret, 0^16), as NaCl crypto_box_beforenm.
    let k = salsa20::hsalsa::<crypto_secretbox::consts::U10>(secret.into(), &[0u8; 16].into());
    XSalsa20Poly1305::new(&k)
}

/// NaCl `crypto_box` with a shared secret (or a secret-box key), no padding (`cryptoBox`).
///
/// ```text
/// output = tag:16 ciphertext   ; len = 16 + msg len
/// ```
pub fn crypto_box(secret: &[u8; 32], nonce: &[u8; NONCE_LEN], msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TAG_LEN + msg.len());
    out.extend_from_slice(&[0u8; TAG_LEN]);
    out.extend_from_slice(msg);
    let tag = box_cipher(secret)
        .encrypt_in_place_detached(nonce.into(), b"", &mut out[TAG_LEN..])
        .expect("XSalsa20 encrypts any length that fits in memory");
    out[..TAG_LEN].copy_from_slice(&tag);
    out
}

/// `crypto_box` of `msg` padded to `padded_len` first (`cbEncrypt`/`sbEncrypt`); the output is
/// `16 + padded_len` bytes.
///
/// # Errors
/// [`CryptoError::LargeMsg`] when `msg` does not fit `padded_len - 2` bytes.
pub fn crypto_box_padded(
    secret: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    msg: &[u8],
    padded_len: usize,
) -> Result<Vec<u8>, CryptoError> {
    let mut padded = Vec::with_capacity(padded_len);
    pad(msg, padded_len, &mut padded).map_err(|_| CryptoError::LargeMsg)?;
    Ok(crypto_box(secret, nonce, &padded))
}

/// Opens a `crypto_box` without unpadding (`cbDecryptNoPad`); the tag is compared in constant time.
///
/// # Errors
/// [`CryptoError::Decrypt`] when the packet is shorter than the tag or does not authenticate.
pub fn crypto_box_open(
    secret: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    packet: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if packet.len() < TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (tag, c) = packet.split_at(TAG_LEN);
    let mut msg = c.to_vec();
    box_cipher(secret)
        .decrypt_in_place_detached(nonce.into(), b"", &mut msg, tag.into())
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(msg)
}

/// Opens a padded `crypto_box` and removes the padding (`cbDecrypt`/`sbDecrypt`).
///
/// # Errors
/// [`CryptoError::Decrypt`], or [`CryptoError::InvalidMsg`] for a bad padding length.
pub fn crypto_box_open_padded(
    secret: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    packet: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let padded = crypto_box_open(secret, nonce, packet)?;
    let msg = unpad(&padded).map_err(|_| CryptoError::InvalidMsg)?;
    Ok(msg.to_vec())
}

/// The 80-byte authenticator of `msg` (`cbAuthenticate`): `crypto_box` of SHA-512(msg) with the
/// DH secret of `public` and `private`.
pub fn cb_authenticate(
    public: &[u8; 32],
    private: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    msg: &[u8],
) -> [u8; CB_AUTHENTICATOR_LEN] {
    let b = crypto_box(&dh(public, private), nonce, &sha512(msg));
    let mut a = [0u8; CB_AUTHENTICATOR_LEN];
    a.copy_from_slice(&b);
    a
}

/// Verifies an authenticator (`cbVerify`): the box must open and hold SHA-512(msg), compared in
/// constant time.
pub fn cb_verify(
    public: &[u8; 32],
    private: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    auth: &[u8; CB_AUTHENTICATOR_LEN],
    msg: &[u8],
) -> bool {
    match crypto_box_open(&dh(public, private), nonce, auth) {
        Ok(digest) => ct_eq(&digest, &sha512(msg)),
        Err(_) => false,
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A transmission authorization: a signature or a `crypto_box` authenticator
/// (the reference's `TransmissionAuth`).
///
/// ```text
/// auth = signature / authenticator:80   ; told apart by length
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransmissionAuth {
    /// An Ed25519 or Ed448 signature of the authorized bytes.
    Signature(Signature),
    /// An 80-byte authenticator (X25519 keys).
    Authenticator([u8; CB_AUTHENTICATOR_LEN]),
}

impl TransmissionAuth {
    /// Classifies non-empty authorization bytes (`decodeTAuthBytes`): 80 bytes is an
    /// authenticator, 64 or 114 a signature, anything else `None`.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() == CB_AUTHENTICATOR_LEN {
            let mut a = [0u8; CB_AUTHENTICATOR_LEN];
            a.copy_from_slice(b);
            return Some(Self::Authenticator(a));
        }
        Signature::from_bytes(b).map(Self::Signature)
    }

    /// The raw bytes as sent.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Signature(s) => s.as_bytes(),
            Self::Authenticator(a) => a,
        }
    }
}

/// Ed25519 key the reference verifies against when the entity is missing (timing equaliser).
const DUMMY_ED25519: [u8; 32] = [
    0xd7, 0x7f, 0x4e, 0xaa, 0xce, 0x10, 0x82, 0x9a, 0x9b, 0x02, 0x60, 0x74, 0xa3, 0xba, 0xd9, 0x7f,
    0xa4, 0xf5, 0xf6, 0xbc, 0xa5, 0xec, 0x4e, 0xb9, 0x93, 0x80, 0x18, 0x7b, 0x49, 0x04, 0xdd, 0x0b,
];
/// X25519 key the reference uses for the same purpose.
const DUMMY_X25519: [u8; 32] = [
    0xe0, 0x91, 0x92, 0x31, 0x88, 0x6d, 0xd7, 0xc1, 0xf8, 0x99, 0xab, 0x3f, 0x8c, 0x77, 0x81, 0xc1,
    0xf7, 0x0c, 0xee, 0x32, 0xf0, 0x35, 0x82, 0x4d, 0x38, 0x08, 0x62, 0xdb, 0xf8, 0x38, 0x45, 0x78,
];

/// Verifies a transmission authorization against an entity's key, as the servers do
/// (`verifyCmdAuthorization`).
///
/// A signature must match the key's algorithm; an authenticator needs an X25519 key and the
/// server's session private key (`server_private`, absent before SMP v7 / NTF v2). On a mismatch
/// a dummy verification still runs, so the time does not depend on the key.
pub fn verify_authorization(
    auth: Option<&TransmissionAuth>,
    key: &PublicKey,
    authorized: &[u8],
    corr_id: &[u8],
    server_private: Option<&[u8; 32]>,
) -> bool {
    match auth {
        None => false,
        Some(TransmissionAuth::Signature(sig)) => {
            if key.algorithm() == sig.algorithm() {
                verify_signature(key, sig, authorized)
            } else {
                dummy_verify_signature(sig, authorized)
            }
        }
        Some(TransmissionAuth::Authenticator(a)) => match key {
            PublicKey::X25519(k) => verify_authenticator(k, a, authorized, corr_id, server_private),
            _ => dummy_verify_authorization(auth, authorized, corr_id, server_private),
        },
    }
}

/// Runs a verification with a dummy key and returns false (`dummyVerifyCmd`), so that a missing
/// entity takes as long as a wrong authorization.
pub fn dummy_verify_authorization(
    auth: Option<&TransmissionAuth>,
    authorized: &[u8],
    corr_id: &[u8],
    server_private: Option<&[u8; 32]>,
) -> bool {
    match auth {
        None => false,
        Some(TransmissionAuth::Signature(sig)) => dummy_verify_signature(sig, authorized),
        Some(TransmissionAuth::Authenticator(a)) => {
            let _ = core::hint::black_box(verify_authenticator(
                &DUMMY_X25519,
                a,
                authorized,
                corr_id,
                server_private,
            ));
            false
        }
    }
}

fn dummy_verify_signature(sig: &Signature, authorized: &[u8]) -> bool {
    match sig {
        Signature::Ed25519(s) => {
            let _ = core::hint::black_box(verify_ed25519(&DUMMY_ED25519, s, authorized));
            false
        }
        Signature::Ed448(_) => false,
    }
}

fn verify_authenticator(
    key: &[u8; 32],
    auth: &[u8; CB_AUTHENTICATOR_LEN],
    authorized: &[u8],
    corr_id: &[u8],
    server_private: Option<&[u8; 32]>,
) -> bool {
    match server_private {
        Some(pk) => cb_verify(key, pk, &cb_nonce(corr_id), auth, authorized),
        None => false,
    }
}

/// A secret-box chain key of SMP transport block encryption (`SbChainKey`).
#[derive(Clone, PartialEq, Eq)]
pub struct SbChainKey(pub [u8; 32]);

impl core::fmt::Debug for SbChainKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SbChainKey(..)")
    }
}

fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    hkdf::Hkdf::<Sha512>::new(Some(salt), ikm)
        .expand(info, out)
        .expect("output length is below 255 * 64");
}

/// The two initial chain keys from the session id and the session DH secret (`sbcInit`):
/// HKDF-SHA512(salt = session id, info = "SimpleXSbChainInit"), 64 bytes split in two.
///
/// The client sends with the first and receives with the second; the server the other way round.
pub fn sbc_init(session_id: &[u8], secret: &[u8]) -> (SbChainKey, SbChainKey) {
    let mut out = [0u8; 64];
    hkdf_sha512(session_id, secret, b"SimpleXSbChainInit", &mut out);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&out[..32]);
    b.copy_from_slice(&out[32..]);
    (SbChainKey(a), SbChainKey(b))
}

impl SbChainKey {
    /// Advances the chain (`sbcHkdf`): HKDF-SHA512(no salt, info = "SimpleXSbChain"), 88 bytes =
    /// next chain key (32), secret-box key (32), nonce (24). Returns the key and the nonce.
    pub fn next_key(&mut self) -> ([u8; 32], [u8; NONCE_LEN]) {
        let mut out = [0u8; 88];
        hkdf_sha512(b"", &self.0, b"SimpleXSbChain", &mut out);
        let mut key = [0u8; 32];
        let mut nonce = [0u8; NONCE_LEN];
        self.0.copy_from_slice(&out[..32]);
        key.copy_from_slice(&out[32..64]);
        nonce.copy_from_slice(&out[64..]);
        (key, nonce)
    }
}

/// Encrypts a block's content for SMP v11+ transport encryption (`tPutBlock` with block keys):
/// the content padded to `block_size - 16`, then secret-boxed; the result is `block_size` bytes.
///
/// # Errors
/// [`CryptoError::LargeMsg`] when the content does not fit.
pub fn encrypt_block(
    chain: &mut SbChainKey,
    content: &[u8],
    block_size: usize,
) -> Result<Vec<u8>, CryptoError> {
    if block_size < TAG_LEN + 2 {
        return Err(CryptoError::LargeMsg);
    }
    let (key, nonce) = chain.next_key();
    crypto_box_padded(&key, &nonce, content, block_size - TAG_LEN)
}

/// Decrypts a received encrypted block (`tGetBlock` with block keys) and unpads it.
///
/// The chain advances whatever the outcome, as in the reference.
///
/// # Errors
/// [`CryptoError::Decrypt`] or [`CryptoError::InvalidMsg`]; the reference reports both as `LARGE_MSG`.
pub fn decrypt_block(chain: &mut SbChainKey, block: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (key, nonce) = chain.next_key();
    crypto_box_open_padded(&key, &nonce, block)
}

// ---------------------------------------------------------------------------------------------
// X.509

/// A minimal DER/BER element reader for the signed key object.
struct Tlv<'a> {
    tag: u8,
    /// the whole element, header included
    raw: &'a [u8],
    content: &'a [u8],
}

fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur here
    }
    let l0 = *input.get(1)?;
    let (len, hlen) = if l0 < 0x80 {
        (l0 as usize, 2)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None; // indefinite or absurd lengths
        }
        let bytes = input.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize),
            2 + n,
        )
    };
    let end = hlen.checked_add(len)?;
    let raw = input.get(..end)?;
    Some((
        Tlv {
            tag,
            raw,
            content: &raw[hlen..],
        },
        &input[end..],
    ))
}

/// Whether `der` is a structurally valid SubjectPublicKeyInfo; a key of one of the four
/// protocol algorithms (by OID) must also have the right length.
fn valid_spki(der: &[u8]) -> bool {
    let Some((spki, rest)) = read_tlv(der) else {
        return false;
    };
    if spki.tag != 0x30 || !rest.is_empty() {
        return false;
    }
    let Some((alg, rest)) = read_tlv(spki.content) else {
        return false;
    };
    let Some((bits, rest)) = read_tlv(rest) else {
        return false;
    };
    if alg.tag != 0x30 || bits.tag != 0x03 || bits.content.is_empty() || !rest.is_empty() {
        return false;
    }
    let Some((oid, _)) = read_tlv(alg.content) else {
        return false;
    };
    if oid.tag != 0x06 {
        return false;
    }
    if let [0x2b, 0x65, 0x6e..=0x71] = oid.content {
        return PublicKey::from_der(der).is_some();
    }
    true
}

/// AlgorithmIdentifier DER of Ed25519 signatures.
const ED25519_ALG: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// AlgorithmIdentifier DER of Ed448 signatures.
const ED448_ALG: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71];

/// A public key signed with an X.509 signature (the reference's `SignedExact PubKey`), kept as
/// the exact bytes received so it re-encodes unchanged.
///
/// ```text
/// signed-key = SEQUENCE {
///   SEQUENCE { SubjectPublicKeyInfo }   ; the signed bytes
///   AlgorithmIdentifier                 ; Ed25519 / Ed448 to verify
///   BIT STRING signature }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedKey {
    der: Vec<u8>,
    /// range of the signed object (the inner SEQUENCE) in `der`
    signed: (usize, usize),
    /// range of the SubjectPublicKeyInfo in `der`
    spki: (usize, usize),
    /// range of the algorithm identifier in `der`
    alg: (usize, usize),
    /// range of the signature bit string's data in `der`
    sig: (usize, usize),
}

impl core::fmt::Debug for SignedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SignedKey({} bytes)", self.der.len())
    }
}

fn range_in(outer: &[u8], inner: &[u8]) -> (usize, usize) {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    (start, start + inner.len())
}

impl SignedKey {
    /// Parses a signed key object (`decodeSignedObject`).
    ///
    /// # Errors
    /// [`CryptoError::BadKey`] when the bytes are not a signed SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let bad = CryptoError::BadKey;
        let (outer, rest) = read_tlv(der).ok_or(bad)?;
        if outer.tag != 0x30 || !rest.is_empty() {
            return Err(bad);
        }
        let (obj, rest) = read_tlv(outer.content).ok_or(bad)?;
        let (alg, rest) = read_tlv(rest).ok_or(bad)?;
        let (sig, _ignored) = read_tlv(rest).ok_or(bad)?;
        if obj.tag != 0x30
            || !valid_spki(obj.content)
            || alg.tag != 0x30
            || sig.tag != 0x03
            || sig.content.is_empty()
        {
            return Err(bad);
        }
        match read_tlv(alg.content) {
            Some((oid, _)) if oid.tag == 0x06 => {}
            _ => return Err(bad),
        }
        Ok(Self {
            der: der.to_vec(),
            signed: range_in(der, obj.raw),
            spki: range_in(der, obj.content),
            alg: range_in(der, alg.raw),
            sig: range_in(der, &sig.content[1..]),
        })
    }

    /// Signs `key` with an Ed25519 seed (`signX509` of `publicToX509`), as a server does for its
    /// session DH key.
    pub fn sign_ed25519(seed: &[u8; 32], key: &PublicKey) -> Self {
        let signed: Result<Self, core::convert::Infallible> =
            Self::sign_with(key, |obj| Ok(Signature::Ed25519(sign_ed25519(seed, obj))));
        match signed {
            Ok(sk) => sk,
            Err(never) => match never {},
        }
    }

    /// Signs `key` with any signer (`signX509` of `publicToX509`): `sign` gets the bytes to sign
    /// (the DER of `SEQUENCE { SubjectPublicKeyInfo }`) and returns an Ed25519 or Ed448
    /// signature, whose algorithm names the AlgorithmIdentifier (1.3.101.112 / 1.3.101.113).
    ///
    /// ```text
    /// Ed25519: 30 78 | 30 2c <spki:44> | 30 05 06 03 2b 65 70 | 03 41 00 <sig:64>
    /// Ed448:   30 81 aa | 30 2c <spki:44> | 30 05 06 03 2b 65 71 | 03 73 00 <sig:114>
    /// ```
    /// (lengths for an X25519 key).
    ///
    /// # Errors
    /// Whatever `sign` returns.
    pub fn sign_with<E>(
        key: &PublicKey,
        sign: impl FnOnce(&[u8]) -> Result<Signature, E>,
    ) -> Result<Self, E> {
        let spki = key.to_der();
        let mut obj = Vec::with_capacity(spki.len() + 4);
        put_der_header(&mut obj, 0x30, spki.len());
        obj.extend_from_slice(&spki);
        let sig = sign(&obj)?;
        let mut body = obj;
        body.extend_from_slice(match sig {
            Signature::Ed25519(_) => &ED25519_ALG,
            Signature::Ed448(_) => &ED448_ALG,
        });
        let sig = sig.as_bytes();
        put_der_header(&mut body, 0x03, sig.len() + 1);
        body.push(0);
        body.extend_from_slice(sig);
        let mut der = Vec::with_capacity(body.len() + 4);
        put_der_header(&mut der, 0x30, body.len());
        der.extend_from_slice(&body);
        Ok(Self::from_der(&der).expect("well-formed by construction"))
    }

    /// The exact DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The bytes the signature covers (the inner SEQUENCE, header included).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.der[self.signed.0..self.signed.1]
    }

    /// The signed SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.der[self.spki.0..self.spki.1]
    }

    /// The signed key, when it is of a protocol algorithm.
    pub fn public_key(&self) -> Option<PublicKey> {
        PublicKey::from_der(self.spki_der())
    }

    /// The signature, when its algorithm is Ed25519 or Ed448 and its length matches.
    pub fn signature(&self) -> Option<Signature> {
        let alg = &self.der[self.alg.0..self.alg.1];
        let sig = Signature::from_bytes(&self.der[self.sig.0..self.sig.1])?;
        let ok = (alg == ED25519_ALG && sig.algorithm() == KeyAlgorithm::Ed25519)
            || (alg == ED448_ALG && sig.algorithm() == KeyAlgorithm::Ed448);
        ok.then_some(sig)
    }

    /// Verifies the signature with `key` and the built-in [`Ed25519Verifier`], and returns the
    /// signed key (`verifyX509`).
    ///
    /// # Errors
    /// As [`SignedKey::verify_with`]; an Ed448 signature is [`CryptoError::Unsupported`].
    pub fn verify(&self, key: &PublicKey) -> Result<PublicKey, CryptoError> {
        self.verify_with(key, &Ed25519Verifier)
    }

    /// Verifies the signature with `key` and `verifier`, and returns the signed key
    /// (`verifyX509`).
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] for an unknown signature algorithm or a signature that
    /// does not verify; the verifier's error (e.g. [`CryptoError::Unsupported`]);
    /// [`CryptoError::BadKey`] when the signed key is not of a protocol algorithm.
    pub fn verify_with(
        &self,
        key: &PublicKey,
        verifier: &dyn SignatureVerifier,
    ) -> Result<PublicKey, CryptoError> {
        let sig = self.signature().ok_or(CryptoError::BadSignature)?;
        verifier.verify(key, &sig, self.signed_bytes())?;
        self.public_key().ok_or(CryptoError::BadKey)
    }

    /// Verifies the signature with the built-in [`Ed25519Verifier`] and requires the signed key
    /// to be X25519 (`x509ToPublic'` at type `PublicKeyX25519`).
    ///
    /// # Errors
    /// As [`SignedKey::verify_x25519_with`].
    pub fn verify_x25519(&self, key: &PublicKey) -> Result<[u8; 32], CryptoError> {
        self.verify_x25519_with(key, &Ed25519Verifier)
    }

    /// Verifies the signature with `verifier` and requires the signed key to be X25519, as both
    /// handshakes do.
    ///
    /// # Errors
    /// As [`SignedKey::verify_with`], or [`CryptoError::BadKey`] for a non-X25519 key.
    pub fn verify_x25519_with(
        &self,
        key: &PublicKey,
        verifier: &dyn SignatureVerifier,
    ) -> Result<[u8; 32], CryptoError> {
        match self.verify_with(key, verifier)? {
            PublicKey::X25519(k) => Ok(k),
            _ => Err(CryptoError::BadKey),
        }
    }
}

fn put_der_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

/// An X.509 certificate, kept as its exact DER bytes.
///
/// ```text
/// certificate = SEQUENCE { TBSCertificate, AlgorithmIdentifier, BIT STRING }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    der: Vec<u8>,
    public_key: Option<PublicKey>,
}

impl core::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Certificate({} bytes)", self.der.len())
    }
}

impl Certificate {
    /// Parses a DER certificate.
    ///
    /// # Errors
    /// [`CryptoError::BadKey`] when the bytes are not an X.509 certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        use x509_cert::der::{Decode, Encode};
        let cert =
            x509_cert::certificate::CertificateInner::<x509_cert::certificate::Raw>::from_der(der)
                .map_err(|_| CryptoError::BadKey)?;
        let spki: Option<Vec<u8>> =
            Encode::to_der(&cert.tbs_certificate.subject_public_key_info).ok();
        let public_key = spki.and_then(|spki| PublicKey::from_der(&spki));
        Ok(Self {
            der: der.to_vec(),
            public_key,
        })
    }

    /// The exact DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject public key, when it is of a protocol algorithm (`getCertVerifyKey`).
    pub fn public_key(&self) -> Option<PublicKey> {
        self.public_key
    }

    /// SHA-256 of the DER: the server identity (key hash) when this is the identity certificate.
    pub fn fingerprint(&self) -> [u8; 32] {
        sha256(&self.der)
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON forms: certificates and signed keys as lowercase hex of their DER.
    use super::*;
    use crate::json::{hex_decode, hex_encode};
    use alloc::string::String;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for SignedKey {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex_encode(&self.der))
        }
    }

    impl<'de> Deserialize<'de> for SignedKey {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let b = hex_decode(&String::deserialize(d)?).map_err(D::Error::custom)?;
            SignedKey::from_der(&b).map_err(|_| D::Error::custom("not a signed public key"))
        }
    }

    impl Serialize for Certificate {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex_encode(&self.der))
        }
    }

    impl<'de> Deserialize<'de> for Certificate {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let b = hex_decode(&String::deserialize(d)?).map_err(D::Error::custom)?;
            Certificate::from_der(&b).map_err(|_| D::Error::custom("not an X.509 certificate"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn a32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    fn a24(s: &str) -> [u8; 24] {
        h(s).try_into().unwrap()
    }

    #[test]
    fn signing_with_the_known_public_key_gives_the_same_signature() {
        // RFC 8032 7.1 TEST 2: seed, public key, one-byte message, signature
        let seed = a32("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
        let public = a32("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
        assert_eq!(ed25519_public(&seed), public);
        let sig = sign_ed25519_with_public(&seed, &public, &[0x72]);
        assert_eq!(
            sig.to_vec(),
            h("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
               085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        );
        for n in 0..40u8 {
            let seed = [n ^ 0xa5; 32];
            let public = ed25519_public(&seed);
            let msg: Vec<u8> = (0..n).collect();
            let sig = sign_ed25519_with_public(&seed, &public, &msg);
            assert_eq!(sig, sign_ed25519(&seed, &msg));
            assert!(verify_ed25519(&public, &sig, &msg));
            // a wrong public key gives a signature that does not verify
            let other = ed25519_public(&[n; 32]);
            let bad = sign_ed25519_with_public(&seed, &other, &msg);
            assert!(!verify_ed25519(&public, &bad, &msg));
            assert!(!verify_ed25519(&other, &bad, &msg));
        }
        // RFC 8032 7.1 TEST 3 (two bytes)
        let seed = a32("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7");
        let public = a32("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025");
        assert_eq!(
            sign_ed25519_with_public(&seed, &public, &[0xaf, 0x82]).to_vec(),
            h("6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac\
               18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a")
        );
    }

    // (private, public, nonce, plaintext, padded_len, expected) from crypto/cbox/* vectors
    type CboxCase = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<usize>,
        &'static str,
    );
    const CBOX: [CboxCase; 4] = [
        (
            "512d2747c1028f958551f3c1a989bcd8917919baa2ca235a63c4383a36c5f29a",
            "bcf73b0a89f5d47302cfdf9c80f2a0dfc2ef92be91915f0465140b43302e6f29",
            "204151910e951dbedf683da3a142ecbf81c774745b69500e",
            "",
            None,
            "c48cc15174ddead127c89fc5a4c0298e",
        ),
        (
            "d15853dad8247dbea6ef61788c07562b0cf1b49c9923be162b0340e03ff19257",
            "cf28be4193012b7614c82c1f204cf386a03879db8f62bb7bde2daa0f1dd0913a",
            "118145c6a8ee31d2a3e0429701bd897039366ce3c3e0f5a8",
            "99456ae17002028fe06519183da340f63f37237184e417e421b3c27bca2ddbfc0c32e1e2aa1c87f9aa71be6cd4182184744e36d7efc4723946db7165024b5a7b288814e5013efb92796901825f2e8990f547864b3d2a397f8110bb8ebd7f8a590f398a79",
            None,
            "fc6a275e066f15602e903a49c38e5bea69f5a486ed1d2494e7d9e9e65c05333f9eb5ed60f2e16cff2ac6c78c01488c2f1be4d44a5acbe0d2b582bd81f3bcede1ac6cb4f0ec03e28dc7c2b4d2753c6ed22a69526a5a1d6a90c6757cdc766c42bc66603d112581a289d4db034397ced1256661d7b7",
        ),
        (
            "1972edf2f8bfa4e61ae9af6cd87e81b1ef7587df431afa09ac2a5418a728a97f",
            "547b416266c8aeef9b074a92d45a1a521a0b976cc7014fb1ac411362e24b373d",
            "b45bdcd1ac2a20d4d33c45d115fbf8e4b096e6a362f74b4d",
            "",
            Some(32),
            "266072e36badb370cca9052a40b0f21ab797737966149473084c3c658c0cf5122e432810f997fbcc1d5343c731649426",
        ),
        (
            "948d6a0dc745fa9ec3f782f4ffa9fb41561aa8fb79adea7641b698de05c8a333",
            "8bc13ca28f7e154e48a75dc13310f7735fc1102b04f7feef723e80296da7db74",
            "be2f4602d94a40c026d81d5fb3b89ecf1e15330dee027265",
            "3b7d66a84482fd52ce42aba114b56833c320626c55241c1bf36bb639ce91b83e62b77904996318c5535f1aab5a7531ee841f7b021945e61e6e2ad689fd68d6cfeefa76726fe717aa630a267e68872aa5570a7185e47f7254bcc43939a0d2f28aae2dddb4",
            Some(102),
            "cefaa0791cb31059dc932d7bcfcd0f0442863fc355e2a9ca3a70eb3f02d6cc44bb6072e64f2cbfd2fd1ded9f93bd3c2c707896edd360005d2fd8e912cab25721aa2d2ae799bc4ba01e58d5e5edff76859f719c9b05fe9b3069ada584e13d971a03df3841a642f529cacd930b9599f0efaff09b227249",
        ),
    ];

    #[test]
    fn crypto_box_known_answers() {
        for (private, public, nonce, plain, padded, expected) in CBOX {
            let secret = dh(&a32(public), &a32(private));
            let nonce = a24(nonce);
            let plain = h(plain);
            let expected = h(expected);
            let boxed = match padded {
                None => crypto_box(&secret, &nonce, &plain),
                Some(n) => crypto_box_padded(&secret, &nonce, &plain, n).unwrap(),
            };
            assert_eq!(boxed, expected);
            let opened = match padded {
                None => crypto_box_open(&secret, &nonce, &expected).unwrap(),
                Some(_) => crypto_box_open_padded(&secret, &nonce, &expected).unwrap(),
            };
            assert_eq!(opened, plain);
        }
    }

    #[test]
    fn rejects_tampered_or_short_box() {
        let (private, public, nonce, _, _, expected) = CBOX[1];
        let secret = dh(&a32(public), &a32(private));
        let mut b = h(expected);
        b[20] ^= 1;
        assert_eq!(
            crypto_box_open(&secret, &a24(nonce), &b),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            crypto_box_open(&secret, &a24(nonce), &b[..15]),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            crypto_box_padded(&secret, &a24(nonce), &[0; 31], 32),
            Err(CryptoError::LargeMsg)
        );
    }

    #[test]
    fn ed25519_signature_known_answers() {
        // auth/signature/1 and /2: signature over short-bytes(session id) ++ transmission
        let cases = [
            (
                "dbf009e06acb39d1f988c37edc61c9ada9ea203d910e809164fb33949978f0ab",
                "9535e031acf73fcbbf3435cee8962b08c4dcdd7b60a3f4ec74260e2d8906e7d0",
                "18c80a591a7078c27611d6f172a2c00c620687abf4eb94f1da18fa55802e5312ae855edb10627205c94b3041ded32d3282fa4e535542",
                "c54181ca3810b3b1711aae4d5c74497f444f104158c8b66eb8bb1a29a1c76283acbb27219cfcf25bc49d20b7709af967e312100734d3c00ff0107347582eda0d",
            ),
            (
                "55168b5bc14225f39f1ff2ee39deec5602146797b26ed8ad8db1bb39dfd7ac24",
                "34689435f0ea0a335eb002b369630b7d1a93f81458e2a587a08d45151a5cd7e2",
                "188e176da0df717fb2eaf70040a67d4944e9f6e38ca555e923181e69cb4f741e3a251af20d67f75c744aaaa7b0c74855da4b5443484b",
                "03e52fea39c9a989c2d2d7957354d016efd3257006b3b53817e7fc752b55dbebfef3542d6e368b2be15f0e8ca497fefaf24572fda89ef59f5f37008e0814fb05",
            ),
        ];
        for (seed, sid, t, sig) in cases {
            let sid = h(sid);
            let mut authorized = alloc::vec![sid.len() as u8];
            authorized.extend_from_slice(&sid);
            authorized.extend_from_slice(&h(t));
            let seed = a32(seed);
            let s = sign_ed25519(&seed, &authorized);
            assert_eq!(s.to_vec(), h(sig));
            let key = PublicKey::Ed25519(ed25519_public(&seed));
            let sig = TransmissionAuth::from_bytes(&s).unwrap();
            assert!(verify_authorization(
                Some(&sig),
                &key,
                &authorized,
                b"",
                None
            ));
            authorized.push(0);
            assert!(!verify_authorization(
                Some(&sig),
                &key,
                &authorized,
                b"",
                None
            ));
            // a key of another algorithm never verifies
            assert!(!verify_authorization(
                Some(&sig),
                &PublicKey::X25519([9; 32]),
                &authorized,
                b"",
                None
            ));
        }
    }

    #[test]
    fn authenticator_known_answers() {
        // auth/authenticator/1 and /2: client private, server public
        let cases = [
            (
                "53068d635d51624cde70f871135ac162b6695cf19a0ee98bd85985afae9f8c0d",
                "6e3d14cc8d132d1a97ede86027a00dc7204f90bccc7340b91c2992369b921359",
                "ab8545b6abc7dbbd393b993a8fd8064d062779781bb30d5f",
                "20975da9a9dc45a5e6021a8b3b03e60f97fe763d60fb79f778ccb7145c4e2e4c5618ab8545b6abc7dbbd393b993a8fd8064d062779781bb30d5f18d71305fc8e1c2ea350000003db0648635ee01a1a0687dcf85443484b",
                "db66c3784e96da2dca85d9474dfe918fe52558cace4d697db03bf0c97a0e6d297a7feb8d2cf7d253277f7292310b97ec50f782524189290988330aee8cc06cf4b3ed45dcc3aa6f8e603b70a9138cf9f5",
            ),
            (
                "0bcaced20b940215491304061b613eff6448d68560ebd6ea45a32c9c5375d131",
                "a8007cf1d3346f0a77cf0c6f1e48190137a31bda3443f90918fcd6a7b477d27e",
                "bd0cceddb5b88162f1f1071931d14d3d4f4d6e2eb28339db",
                "207d722b215496908ce58b1729e71783fce112e7201aafd359ba2935501777a54e18bd0cceddb5b88162f1f1071931d14d3d4f4d6e2eb28339db187131d319b770f3bcb7af1261f7d5296863c2c7d8fece71765443484b",
                "50f7bf425e4d481650bbf1472a7c37eae5d0c613bf0a633187a2f78b31d694713434a95c11a664d14836012f1c116bdb51a0b37386b017705770802fcd534093557e65c8f5c9746884b58e1589e75a61",
            ),
        ];
        for (client_priv, server_pub, corr, authorized, expected) in cases {
            let corr = h(corr);
            let authorized = h(authorized);
            let a = cb_authenticate(
                &a32(server_pub),
                &a32(client_priv),
                &cb_nonce(&corr),
                &authorized,
            );
            assert_eq!(a.to_vec(), h(expected));
            // the server verifies with the client's public key and its own private key; here we
            // only have the client's side, and DH is symmetric
            assert!(cb_verify(
                &a32(server_pub),
                &a32(client_priv),
                &cb_nonce(&corr),
                &a,
                &authorized
            ));
            assert!(!cb_verify(
                &a32(server_pub),
                &a32(client_priv),
                &cb_nonce(&corr),
                &a,
                b"other"
            ));
            // through the server-side check: key = client public, server private
            let client_pub = x25519_public(&a32(client_priv));
            let auth = TransmissionAuth::from_bytes(&a).unwrap();
            // dh(client_pub, server_priv) == dh(server_pub, client_priv); we lack server_priv, so
            // check the no-session-key path instead
            assert!(!verify_authorization(
                Some(&auth),
                &PublicKey::X25519(client_pub),
                &authorized,
                &corr,
                None
            ));
        }
    }

    #[test]
    fn authenticator_verifies_server_side() {
        let client = [7u8; 32];
        let server = [9u8; 32];
        let msg = b"authorized bytes";
        let corr = b"0123456789abcdefghijklmn";
        let a = cb_authenticate(&x25519_public(&server), &client, &cb_nonce(corr), msg);
        let auth = TransmissionAuth::Authenticator(a);
        let key = PublicKey::X25519(x25519_public(&client));
        assert!(verify_authorization(
            Some(&auth),
            &key,
            msg,
            corr,
            Some(&server)
        ));
        assert!(!verify_authorization(
            Some(&auth),
            &key,
            msg,
            b"other corr",
            Some(&server)
        ));
        assert!(!verify_authorization(None, &key, msg, corr, Some(&server)));
        assert!(!dummy_verify_authorization(
            Some(&auth),
            msg,
            corr,
            Some(&server)
        ));
    }

    #[test]
    fn cb_nonce_pads_and_truncates() {
        assert_eq!(cb_nonce(b"ab")[..3], [b'a', b'b', 0]);
        assert_eq!(cb_nonce(&[5; 30]), [5; 24]);
    }

    #[test]
    fn transmission_auth_lengths() {
        assert!(matches!(
            TransmissionAuth::from_bytes(&[0; 64]),
            Some(TransmissionAuth::Signature(Signature::Ed25519(_)))
        ));
        assert!(matches!(
            TransmissionAuth::from_bytes(&[0; 114]),
            Some(TransmissionAuth::Signature(Signature::Ed448(_)))
        ));
        assert!(matches!(
            TransmissionAuth::from_bytes(&[0; 80]),
            Some(TransmissionAuth::Authenticator(_))
        ));
        assert_eq!(TransmissionAuth::from_bytes(&[0; 63]), None);
    }

    // from ntf/server_hello/v1_3 and smp/server_hello/v6_18_chain1
    pub(crate) const SIGNED_KEY: &str = "3078302c302a300506032b656e032100c3bbb82d8bf542faa854c639fe494e2d07e61608391eced111b62b49f0eae54b300506032b6570034100d7040a57baa8d79363d52f58c233a842b4788b12eef122bcc910d154ed180833a2210443f7bd85a7c7dff13f1eab32b30da1d69a2431c67e5c048f9a7743ad06";
    pub(crate) const LEAF_CERT: &str = "3081ce308181a003020102020101300506032b65703011310f300d06035504030c06736572766572301e170d3234303130313030303030305a170d3334303130313030303030305a3011310f300d06035504030c06736572766572302a300506032b657003210010119c6f57931b3d838c43b4a58150daeb3f7f5d08d4d13e0f96a717fe5fbedd300506032b657003410016516d89b1646d91e19b15924539498f554a4327d711cd9a0af2e4ae104a7ac232f077c2760524b297947847c7c38d2c620a17baf7c10abf322b0898176dfd07";

    #[test]
    fn parses_reference_signed_key_and_certificate() {
        let sk = SignedKey::from_der(&h(SIGNED_KEY)).unwrap();
        assert_eq!(sk.der(), &h(SIGNED_KEY)[..]);
        assert_eq!(
            sk.public_key(),
            Some(PublicKey::X25519(a32(
                "c3bbb82d8bf542faa854c639fe494e2d07e61608391eced111b62b49f0eae54b"
            )))
        );
        assert!(matches!(sk.signature(), Some(Signature::Ed25519(_))));
        let cert = Certificate::from_der(&h(LEAF_CERT)).unwrap();
        let key = cert.public_key().unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
        // the server's session key is signed by its TLS (leaf) certificate key
        assert_eq!(
            sk.verify_x25519(&key).unwrap(),
            a32("c3bbb82d8bf542faa854c639fe494e2d07e61608391eced111b62b49f0eae54b")
        );
        assert_eq!(
            sk.verify(&PublicKey::Ed25519([1; 32])),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(cert.fingerprint(), sha256(&h(LEAF_CERT)));
    }

    #[test]
    fn rejects_malformed_x509() {
        assert!(SignedKey::from_der(b"not a signed object").is_err());
        assert!(Certificate::from_der(b"not a certificate").is_err());
        let mut d = h(SIGNED_KEY);
        d.truncate(d.len() - 1);
        assert!(SignedKey::from_der(&d).is_err());
        assert!(Certificate::from_der(&h(SIGNED_KEY)).is_err());
        assert!(SignedKey::from_der(&h(LEAF_CERT)).is_err());
    }

    #[test]
    fn signs_key_objects_like_the_reference() {
        let seed = [3u8; 32];
        let dhk = PublicKey::X25519([4; 32]);
        let sk = SignedKey::sign_ed25519(&seed, &dhk);
        assert_eq!(sk.der().len(), h(SIGNED_KEY).len());
        assert_eq!(sk.der()[..16], h(SIGNED_KEY)[..16]);
        assert_eq!(
            sk.verify(&PublicKey::Ed25519(ed25519_public(&seed)))
                .unwrap(),
            dhk
        );
    }

    #[test]
    fn signs_ed448_key_objects_with_a_given_signer() {
        let dhk = PublicKey::X25519([4; 32]);
        let mut signed = Vec::new();
        let sk = SignedKey::sign_with(&dhk, |obj| {
            signed = obj.to_vec();
            Ok::<_, ()>(Signature::Ed448([7; ED448_SIGNATURE_LEN]))
        })
        .unwrap();
        // SEQUENCE (long form, 170 bytes) { SEQUENCE { spki }, Ed448 AlgorithmIdentifier, BIT STRING }
        assert_eq!(sk.der()[..3], [0x30, 0x81, 0xaa]);
        assert_eq!(sk.der().len(), 3 + 170);
        assert_eq!(sk.signed_bytes(), &signed[..]);
        assert_eq!(sk.signed_bytes()[2..], dhk.to_der()[..]);
        assert_eq!(sk.der()[49..56], ED448_ALG);
        assert_eq!(sk.der()[56..59], [0x03, 0x73, 0x00]);
        assert_eq!(
            sk.signature(),
            Some(Signature::Ed448([7; ED448_SIGNATURE_LEN]))
        );
        assert_eq!(sk.public_key(), Some(dhk));
        // the built-in verifier does not do Ed448: a typed error, whatever the key
        let ed448 = PublicKey::Ed448([1; 57]);
        assert_eq!(sk.verify(&ed448), Err(CryptoError::Unsupported));
        assert_eq!(sk.verify_x25519(&ed448), Err(CryptoError::Unsupported));
        assert_eq!(
            sk.verify(&PublicKey::Ed25519([1; 32])),
            Err(CryptoError::BadSignature)
        );
        // a verifier that has Ed448 decides, and gets exactly the signed bytes
        let check = |k: &PublicKey, s: &Signature, m: &[u8]| {
            if *k == ed448 && *s == Signature::Ed448([7; 114]) && m == &signed[..] {
                Ok(())
            } else {
                Err(CryptoError::BadSignature)
            }
        };
        assert_eq!(sk.verify_x25519_with(&ed448, &check), Ok([4; 32]));
        assert_eq!(
            sk.verify_x25519_with(&PublicKey::Ed448([2; 57]), &check),
            Err(CryptoError::BadSignature)
        );
        // a signer's failure is passed through
        assert_eq!(SignedKey::sign_with(&dhk, |_| Err("no key")), Err("no key"));
    }

    #[test]
    fn block_chain_keys_round_trip() {
        let (c_snd, c_rcv) = sbc_init(b"session", &[1; 32]);
        let (mut s_rcv, mut s_snd) = (c_snd.clone(), c_rcv.clone());
        let (mut c_snd, mut c_rcv) = (c_snd, c_rcv);
        for i in 0..3u8 {
            let b = encrypt_block(&mut c_snd, &[i; 10], 512).unwrap();
            assert_eq!(b.len(), 512);
            assert_eq!(decrypt_block(&mut s_rcv, &b).unwrap(), [i; 10]);
            let b = encrypt_block(&mut s_snd, b"reply", 512).unwrap();
            assert_eq!(decrypt_block(&mut c_rcv, &b).unwrap(), b"reply");
        }
        let b = encrypt_block(&mut c_snd, b"x", 512).unwrap();
        // out of step: the receiving chain is behind by nothing but the key differs after a skip
        s_rcv.next_key();
        assert_eq!(decrypt_block(&mut s_rcv, &b), Err(CryptoError::Decrypt));
        assert_eq!(
            encrypt_block(&mut c_snd, &[0; 495], 512),
            Err(CryptoError::LargeMsg)
        );
    }
}
