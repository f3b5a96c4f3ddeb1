//! VAPID (RFC 8292) authorization as the branch's `mkVapidHeader` and `getVapidHeader`:
//!
//! ```text
//! Authorization: vapid t=<JWT>,k=<base64url(uncompressed public key), no padding>
//! JWT    = base64url({"typ":"JWT","alg":"ES256"}) "." base64url(claims) "." base64url(r || s)
//! claims = {"exp":<now + 3600>,"aud":"https://<push host>","sub":<subject>}
//! ```
//!
//! base64url without padding throughout; the signature is ES256 (ECDSA P-256 SHA-256, RFC 6979
//! deterministic nonces) in the JOSE form of 32-byte `r` and `s`. The audience is the push
//! service's origin without the port, as the branch computes it (`wpAud`). A header is cached
//! per audience and made anew when it expires within 60 seconds.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey as _;
use p256::SecretKey;

/// The `sub` claim the branch sends.
pub const DEFAULT_SUBJECT: &str = "https://github.com/simplex-chat/simplexmq/";
/// Lifetime of a VAPID JWT (the branch's one hour).
pub const JWT_LIFETIME: i64 = 3600;
/// A cached header is replaced when it expires within this many seconds.
pub const RENEW_BEFORE: i64 = 60;

/// The server's VAPID key: an ES256 (P-256) private key.
#[derive(Clone)]
pub struct VapidKey {
    key: SigningKey,
    public_b64: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey").field("public", &self.public_b64).finish_non_exhaustive()
    }
}

impl VapidKey {
    /// A key from its secret.
    pub fn new(secret: SecretKey) -> Self {
        let point = secret.public_key().to_encoded_point(false);
        Self {
            public_b64: URL_SAFE_NO_PAD.encode(point.as_bytes()),
            key: SigningKey::from(secret),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        Self::new(SecretKey::random(&mut rand_core::OsRng))
    }

    /// A key from PEM: `EC PRIVATE KEY` (SEC 1, as `openssl ecparam -genkey` writes it and the
    /// branch's `vapid.privkey` is) or `PRIVATE KEY` (PKCS #8).
    ///
    /// # Errors
    /// A message when it is neither or not a P-256 key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        // `openssl ecparam -genkey` may put an `EC PARAMETERS` block first
        let sec1 = pem.find("-----BEGIN EC PRIVATE KEY-----").map(|i| &pem[i..]);
        let secret = match sec1 {
            Some(p) => SecretKey::from_sec1_pem(p).map_err(|e| format!("EC PRIVATE KEY: {e}"))?,
            None => SecretKey::from_pkcs8_pem(pem).map_err(|e| format!("PKCS #8 P-256 key: {e}"))?,
        };
        Ok(Self::new(secret))
    }

    /// A key from a PEM file.
    ///
    /// # Errors
    /// A message naming the file.
    pub fn from_pem_file(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The key in SEC 1 PEM (`EC PRIVATE KEY`).
    ///
    /// # Errors
    /// When encoding fails (not expected).
    pub fn to_pem(&self) -> Result<String, String> {
        let secret = SecretKey::from(self.key.as_nonzero_scalar());
        secret.to_sec1_pem(Default::default()).map(|p| p.to_string()).map_err(|e| e.to_string())
    }

    /// The public key, uncompressed, in base64url without padding (the header's `k`, what the
    /// branch prints as `VAPID:` at start).
    pub fn public_b64(&self) -> &str {
        &self.public_b64
    }

    /// The public key as a point.
    pub fn public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(self.key.verifying_key())
    }

    /// A signed JWT for `aud` and `sub` expiring at `exp`. The claims are in the branch's
    /// record order (`exp`, `aud`, `sub`; its `iss` and `iat` are absent).
    pub fn jwt(&self, aud: &str, sub: &str, exp: i64) -> String {
        let claims = format!(
            "{{\"exp\":{exp},\"aud\":{},\"sub\":{}}}",
            serde_json::Value::from(aud),
            serde_json::Value::from(sub)
        );
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#),
            URL_SAFE_NO_PAD.encode(claims.as_bytes())
        );
        let sig: Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// The `Authorization` header value for `aud`, expiring at `exp`.
    pub fn header(&self, aud: &str, sub: &str, exp: i64) -> String {
        format!("vapid t={},k={}", self.jwt(aud, sub, exp), self.public_b64)
    }
}

/// VAPID headers cached per audience.
#[derive(Debug)]
pub struct VapidCache {
    key: VapidKey,
    subject: String,
    headers: Mutex<HashMap<String, (String, i64)>>,
}

impl VapidCache {
    /// A cache signing with `key`, claiming `subject`.
    pub fn new(key: VapidKey, subject: String) -> Self {
        Self { key, subject, headers: Mutex::new(HashMap::new()) }
    }

    /// The key.
    pub fn key(&self) -> &VapidKey {
        &self.key
    }

    /// The header for `aud` at time `now`: the cached one unless it expires within
    /// [`RENEW_BEFORE`] seconds, else a new one valid for [`JWT_LIFETIME`].
    pub fn header(&self, aud: &str, now: i64) -> String {
        let mut h = self.headers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((v, exp)) = h.get(aud) {
            if *exp > now + RENEW_BEFORE {
                return v.clone();
            }
        }
        let exp = now + JWT_LIFETIME;
        let v = self.key.header(aud, &self.subject, exp);
        h.insert(aud.to_owned(), (v.clone(), exp));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey, EcPoint};
    use openssl::ecdsa::EcdsaSig;
    use openssl::nid::Nid;
    use openssl::sha::sha256;

    /// Checks a VAPID header with OpenSSL (an implementation independent of the signer's
    /// RustCrypto): the key in `k`, the ES256 signature over the first two JWT parts.
    fn verify_with_openssl(header: &str) -> serde_json::Value {
        let rest = header.strip_prefix("vapid t=").expect("vapid scheme");
        let (jwt, k) = rest.split_once(",k=").expect("k parameter");
        let key = URL_SAFE_NO_PAD.decode(k).unwrap();
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let point = EcPoint::from_bytes(&group, &key, &mut ctx).unwrap();
        let ec = EcKey::from_public_key(&group, &point).unwrap();
        let mut parts = jwt.split('.');
        let (h, c, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        assert!(parts.next().is_none());
        let sig = URL_SAFE_NO_PAD.decode(s).unwrap();
        assert_eq!(sig.len(), 64);
        let sig = EcdsaSig::from_private_components(
            BigNum::from_slice(&sig[..32]).unwrap(),
            BigNum::from_slice(&sig[32..]).unwrap(),
        )
        .unwrap();
        let digest = sha256(format!("{h}.{c}").as_bytes());
        assert!(sig.verify(&digest, &ec).unwrap(), "OpenSSL rejects the ES256 signature");
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"typ": "JWT", "alg": "ES256"}));
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).unwrap()).unwrap()
    }

    #[test]
    fn header_verified_by_openssl() {
        let key = VapidKey::generate();
        let h = key.header("https://push.example", DEFAULT_SUBJECT, 1_800_000_000);
        let claims = verify_with_openssl(&h);
        assert_eq!(
            claims,
            serde_json::json!({"exp": 1_800_000_000i64, "aud": "https://push.example", "sub": DEFAULT_SUBJECT})
        );
        // a changed claim no longer verifies
        let (t, k) = h.split_once(",k=").unwrap();
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"exp":1800000000,"aud":"https://evil.example","sub":"x"}"#);
        parts[1] = &forged;
        let forged = format!("{},k={k}", parts.join("."));
        let r = std::panic::catch_unwind(|| verify_with_openssl(&forged));
        assert!(r.is_err());
    }

    /// The branch's `testVapidCache`: at 1761900906 for `https://localhost` the JWT's first two
    /// parts are exactly these bytes (whatever the key); the header is cached, and made anew
    /// an hour later.
    #[test]
    fn branch_header_bytes_and_cache() {
        let now = 1_761_900_906;
        let cache = VapidCache::new(VapidKey::generate(), DEFAULT_SUBJECT.into());
        let v1 = cache.header("https://localhost", now);
        assert!(v1.starts_with("vapid t=eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJleHAiOjE3NjE5MDQ1MDYsImF1ZCI6Imh0dHBzOi8vbG9jYWxob3N0Iiwic3ViIjoiaHR0cHM6Ly9naXRodWIuY29tL3NpbXBsZXgtY2hhdC9zaW1wbGV4bXEvIn0."), "{v1}");
        assert!(v1.ends_with(&format!(",k={}", cache.key().public_b64())));
        assert_eq!(cache.header("https://localhost", now + 3600 - RENEW_BEFORE - 1), v1);
        let v3 = cache.header("https://localhost", now + 3600 - RENEW_BEFORE);
        assert_ne!(v3, v1);
        verify_with_openssl(&v3);
        // another audience has its own header
        assert_ne!(cache.header("https://other", now), v3);
    }

    #[test]
    fn pem_forms() {
        let key = VapidKey::generate();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert_eq!(VapidKey::from_pem(&pem).unwrap().public_b64(), key.public_b64());
        // as `openssl ecparam -name prime256v1 -genkey` writes it: parameters, then the key
        let with_params = format!("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{pem}");
        assert_eq!(VapidKey::from_pem(&with_params).unwrap().public_b64(), key.public_b64());
        assert!(VapidKey::from_pem("not a key").is_err());
    }
}
