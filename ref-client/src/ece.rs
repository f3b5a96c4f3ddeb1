//! RFC 8291 message encryption for Web Push with the RFC 8188 `aes128gcm` content coding, as
//! the branch's `wpEncrypt'`: one record, record size 4096, the sender's public key as key id,
//! the padding delimiter `0x02` and no padding.
//!
//! ```text
//! body   = salt:16 rs:uint32(4096) idlen:uint8(65) as_public:65 ciphertext
//! ikm    = HKDF-SHA-256(salt = auth, ikm = ECDH(as, ua), info = "WebPush: info" 0x00 ua_public as_public, L = 32)
//! cek    = HKDF-SHA-256(salt = salt, ikm, info = "Content-Encoding: aes128gcm" 0x00, L = 16)
//! nonce  = HKDF-SHA-256(salt = salt, ikm, info = "Content-Encoding: nonce" 0x00, L = 12)
//! ciphertext = AES-128-GCM(cek, nonce, plaintext 0x02)
//! ```
//!
//! The P-256 key generation and ECDH are OpenSSL's (its assembly P-256 takes about a tenth
//! of the time of RustCrypto's `p256`, which would make the two scalar multiplications of a
//! push the largest cost of Web Push delivery); keys are passed as `p256` types. HKDF is
//! `hkdf` + `sha2`, the cipher `aes-gcm` (RustCrypto).

use std::sync::OnceLock;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size written in the header (the branch's `rs`).
pub const RECORD_SIZE: u32 = 4096;
/// Bytes before the ciphertext: salt, record size, key id length, the 65-byte key id.
pub const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// Bytes the encryption adds to the plaintext: the header, the delimiter and the GCM tag.
pub const OVERHEAD: usize = HEADER_LEN + 1 + 16;

/// Why a body could not be encrypted or decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EceError {
    /// The plaintext does not fit one record.
    TooLong,
    /// The body is shorter than its header, its key id is not a P-256 point, or its record
    /// size is not what the ciphertext needs.
    BadHeader,
    /// Authentication failed (wrong keys or altered bytes).
    Decrypt,
    /// The record has no `0x02` delimiter (it is not a single last record).
    BadPadding,
}

impl std::fmt::Display for EceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "plaintext does not fit one aes128gcm record",
            Self::BadHeader => "bad aes128gcm header",
            Self::Decrypt => "aes128gcm authentication failed",
            Self::BadPadding => "aes128gcm record without the last-record delimiter",
        })
    }
}

impl std::error::Error for EceError {}

fn uncompressed(k: &PublicKey) -> [u8; 65] {
    let p = k.to_encoded_point(false);
    let mut out = [0u8; 65];
    out.copy_from_slice(p.as_bytes());
    out
}

fn group() -> Option<&'static EcGroup> {
    static G: OnceLock<Option<EcGroup>> = OnceLock::new();
    G.get_or_init(|| EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).ok()).as_ref()
}

/// A P-256 private key in OpenSSL's form with its uncompressed public point.
pub struct EcdhKey {
    d: BigNum,
    public: [u8; 65],
}

impl std::fmt::Debug for EcdhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EcdhKey(..)")
    }
}

impl EcdhKey {
    fn from_scalar(mut d: BigNum) -> Option<Self> {
        let g = group()?;
        let mut ctx = BigNumContext::new().ok()?;
        d.set_const_time();
        let mut q = EcPoint::new(g).ok()?;
        q.mul_generator2(g, &d, &mut ctx).ok()?;
        let bytes = q.to_bytes(g, PointConversionForm::UNCOMPRESSED, &mut ctx).ok()?;
        Some(Self { d, public: bytes.try_into().ok()? })
    }

    /// A fresh key from OpenSSL's random source; `None` if OpenSSL fails.
    pub fn generate() -> Option<Self> {
        Self::from_scalar(EcKey::generate(group()?).ok()?.private_key().to_owned().ok()?)
    }

    /// The key of `secret` (one scalar multiplication for its public point).
    pub fn from_secret(secret: &SecretKey) -> Option<Self> {
        Self::from_scalar(BigNum::from_slice(&secret.to_bytes()).ok()?)
    }

    /// The uncompressed public point.
    pub fn public(&self) -> &[u8; 65] {
        &self.public
    }

    /// ECDH (`EC_POINT_mul`, as OpenSSL's own ECDH) with the uncompressed point `peer`,
    /// which OpenSSL checks is on the curve: the shared point's x coordinate.
    fn agree(&self, peer: &[u8; 65]) -> Option<[u8; 32]> {
        let g = group()?;
        let mut ctx = BigNumContext::new().ok()?;
        let point = EcPoint::from_bytes(g, peer, &mut ctx).ok()?;
        let mut shared = EcPoint::new(g).ok()?;
        shared.mul2(g, &point, &self.d, &mut ctx).ok()?;
        let (mut x, mut y) = (BigNum::new().ok()?, BigNum::new().ok()?);
        shared.affine_coordinates(g, &mut x, &mut y, &mut ctx).ok()?;
        x.to_vec_padded(32).ok()?.try_into().ok()
    }
}

/// The content encryption key and nonce for one message.
fn keys(ecdh: &[u8], auth: &[u8; 16], ua_public: &[u8; 65], as_public: &[u8; 65], salt: &[u8; 16]) -> ([u8; 16], [u8; 12]) {
    let mut info = Vec::with_capacity(14 + 130);
    info.extend_from_slice(b"WebPush: info\0");
    info.extend_from_slice(ua_public);
    info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    // lengths are within HKDF-SHA-256's limit, so expand cannot fail
    let _ = Hkdf::<Sha256>::new(Some(auth), ecdh).expand(&info, &mut ikm);
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    let _ = prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek);
    let _ = prk.expand(b"Content-Encoding: nonce\0", &mut nonce);
    (cek, nonce)
}

/// Encrypts `plaintext` for the subscriber (`ua_public`, `auth`) with the sender key
/// `as_secret` and `salt` (both fresh for every message in real use; fixed in tests).
///
/// # Errors
/// [`EceError::TooLong`] when the record would exceed [`RECORD_SIZE`]; [`EceError::BadHeader`]
/// if OpenSSL refuses a key.
pub fn encrypt_with(as_secret: &SecretKey, salt: &[u8; 16], ua_public: &PublicKey, auth: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>, EceError> {
    let as_key = EcdhKey::from_secret(as_secret).ok_or(EceError::BadHeader)?;
    encrypt_key(&as_key, salt, ua_public, auth, plaintext)
}

fn encrypt_key(as_key: &EcdhKey, salt: &[u8; 16], ua_public: &PublicKey, auth: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>, EceError> {
    if plaintext.len() + 17 > RECORD_SIZE as usize {
        return Err(EceError::TooLong);
    }
    let ua = uncompressed(ua_public);
    let shared = as_key.agree(&ua).ok_or(EceError::BadHeader)?;
    let (cek, nonce) = keys(&shared, auth, &ua, as_key.public(), salt);
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new(&cek.into());
    let ct = cipher.encrypt(Nonce::from_slice(&nonce), record.as_slice()).map_err(|_| EceError::TooLong)?;
    let mut body = Vec::with_capacity(HEADER_LEN + ct.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_key.public());
    body.extend_from_slice(&ct);
    Ok(body)
}

/// Encrypts with a fresh sender key (OpenSSL's random source) and salt (the OS's).
///
/// # Errors
/// As [`encrypt_with`].
pub fn encrypt(ua_public: &PublicKey, auth: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>, EceError> {
    let as_key = EcdhKey::generate().ok_or(EceError::BadHeader)?;
    let mut salt = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    encrypt_key(&as_key, &salt, ua_public, auth, plaintext)
}

/// Decrypts a body as the subscriber (`ua_secret`, `auth`): one record ending in the `0x02`
/// delimiter, optionally followed by zero padding.
///
/// # Errors
/// An [`EceError`] saying what is wrong.
pub fn decrypt(ua_secret: &SecretKey, auth: &[u8; 16], body: &[u8]) -> Result<Vec<u8>, EceError> {
    decrypt_key(&EcdhKey::from_secret(ua_secret).ok_or(EceError::BadHeader)?, auth, body)
}

/// [`decrypt`] with the subscriber's key already in OpenSSL's form.
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_key(ua: &EcdhKey, auth: &[u8; 16], body: &[u8]) -> Result<Vec<u8>, EceError> {
    if body.len() < HEADER_LEN + 16 || body[20] != 65 {
        return Err(EceError::BadHeader);
    }
    let salt: [u8; 16] = body[..16].try_into().map_err(|_| EceError::BadHeader)?;
    let rs = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let as_public: [u8; 65] = body[21..HEADER_LEN].try_into().map_err(|_| EceError::BadHeader)?;
    let ct = &body[HEADER_LEN..];
    if ct.len() > rs {
        return Err(EceError::BadHeader);
    }
    let shared = ua.agree(&as_public).ok_or(EceError::BadHeader)?;
    let (cek, nonce) = keys(&shared, auth, ua.public(), &as_public, &salt);
    let cipher = Aes128Gcm::new(&cek.into());
    let mut pt = cipher.decrypt(Nonce::from_slice(&nonce), ct).map_err(|_| EceError::Decrypt)?;
    let end = pt.iter().rposition(|&b| b != 0).ok_or(EceError::BadPadding)?;
    if pt[end] != 2 {
        return Err(EceError::BadPadding);
    }
    pt.truncate(end);
    Ok(pt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        smp_proto::text::base64url_decode(s.as_bytes()).unwrap()
    }

    /// RFC 8291 section 5 (the branch's `testWPEncryption`): every input fixed, the whole
    /// message compared.
    #[test]
    fn rfc8291_section5_known_answer() {
        let plaintext = b"When I grow up, I want to be a watermelon";
        let as_secret = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let ua_secret = SecretKey::from_slice(&b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap();
        let ua_public = PublicKey::from_sec1_bytes(&b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")).unwrap();
        assert_eq!(ua_secret.public_key(), ua_public);
        let auth: [u8; 16] = b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(&as_secret, &salt, &ua_public, &auth, plaintext).unwrap();
        let expected = b64("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
        assert_eq!(body, expected);
        assert_eq!(decrypt(&ua_secret, &auth, &body).unwrap(), plaintext);
        // any changed byte fails
        let mut bad = body.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(decrypt(&ua_secret, &auth, &bad), Err(EceError::Decrypt));
        let mut wrong_auth = auth;
        wrong_auth[0] ^= 1;
        assert_eq!(decrypt(&ua_secret, &wrong_auth, &body), Err(EceError::Decrypt));
        assert_eq!(decrypt(&ua_secret, &auth, &body[..50]), Err(EceError::BadHeader));
    }

    /// OpenSSL's public point of a secret is RustCrypto's; a sender key off the curve is
    /// refused.
    #[test]
    fn openssl_keys_agree_with_p256() {
        let sk = SecretKey::random(&mut rand_core::OsRng);
        let k = EcdhKey::from_secret(&sk).unwrap();
        assert_eq!(k.public(), &uncompressed(&sk.public_key()));
        let body = encrypt(&sk.public_key(), &[3; 16], b"x").unwrap();
        let mut bad = body.clone();
        bad[HEADER_LEN - 1] ^= 1;
        assert_eq!(decrypt_key(&k, &[3; 16], &bad), Err(EceError::BadHeader));
        assert_eq!(decrypt_key(&k, &[3; 16], &body).unwrap(), b"x");
    }

    #[test]
    fn fresh_keys_round_trip_and_size_limit() {
        let ua_secret = SecretKey::random(&mut rand_core::OsRng);
        let auth = [9u8; 16];
        let max = vec![b'x'; RECORD_SIZE as usize - 17];
        let body = encrypt(&ua_secret.public_key(), &auth, &max).unwrap();
        assert_eq!(body.len(), max.len() + OVERHEAD);
        assert_eq!(decrypt(&ua_secret, &auth, &body).unwrap(), max);
        let over = vec![b'x'; RECORD_SIZE as usize - 16];
        assert_eq!(encrypt(&ua_secret.public_key(), &auth, &over), Err(EceError::TooLong));
    }
}
