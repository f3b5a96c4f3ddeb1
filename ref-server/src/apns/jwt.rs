//! The APNS provider token: an ES256 JSON Web Token signed with the team's `.p8` key.
//!
//! ```text
//! jwt    = b64(header) "." b64(claims) "." b64(signature)   ; base64url without padding
//! header = {"alg":"ES256","kid":KEY_ID}
//! claims = {"iss":TEAM_ID,"iat":SECONDS}
//! signature = r:32 s:32                                     ; ECDSA P-256 over SHA-256
//! ```
//!
//! The header and claims bytes are those of the reference (`mkApnsJWTToken`: aeson records,
//! fields in declaration order; `jsonwebtoken`'s `Header` without `typ` serializes the same
//! two fields in the same order). The signature is the JWS form of RFC 7518 section 3.4
//! (`r || s`, 64 bytes); the reference sends the DER `SEQUENCE { r, s }` instead, which Apple
//! also accepts. Signing and verifying are the `jsonwebtoken` crate's; OpenSSL only generates
//! keys and checks that a PEM holds a P-256 key.

use std::fmt;
use std::path::Path;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use serde::{Deserialize, Serialize};

/// The JWT algorithm APNS requires.
pub const JWT_ALG: &str = "ES256";

/// The claims of a provider token, in the reference's order.
#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    iat: i64,
}

/// An error loading a key or signing or verifying a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// The key could not be read or is not an EC P-256 key.
    BadKey(String),
    /// The token is not three base64url parts of the expected JSON.
    Malformed(&'static str),
    /// The header's `alg` is not `ES256`.
    WrongAlgorithm(String),
    /// The signature does not verify.
    BadSignature,
    /// OpenSSL failed while signing or verifying.
    Crypto(String),
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadKey(e) => write!(f, "bad APNS key: {e}"),
            Self::Malformed(what) => write!(f, "malformed JWT: {what}"),
            Self::WrongAlgorithm(a) => write!(f, "JWT algorithm {a:?} is not ES256"),
            Self::BadSignature => f.write_str("JWT signature does not verify"),
            Self::Crypto(e) => write!(f, "JWT crypto error: {e}"),
        }
    }
}

impl std::error::Error for JwtError {}

fn crypto(e: openssl::error::ErrorStack) -> JwtError {
    JwtError::Crypto(e.to_string())
}

fn is_p256(key: &PKey<impl openssl::pkey::HasPublic>) -> bool {
    key.ec_key()
        .ok()
        .and_then(|k| k.group().curve_name())
        .is_some_and(|n| n == Nid::X9_62_PRIME256V1)
}

/// The private key that signs provider tokens: an EC P-256 key (Apple's `.p8` file is its
/// PKCS#8 PEM).
#[derive(Clone)]
pub struct ApnsSigningKey {
    pkey: PKey<Private>,
    enc: EncodingKey,
}

impl fmt::Debug for ApnsSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApnsSigningKey(..)")
    }
}

impl ApnsSigningKey {
    /// A fresh random key (for tests and the test provider).
    ///
    /// # Errors
    /// [`JwtError::Crypto`] when OpenSSL fails.
    pub fn generate() -> Result<Self, JwtError> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto)?;
        let key = EcKey::generate(&group).map_err(crypto)?;
        Self::from_pkey(PKey::from_ec_key(key).map_err(crypto)?)
    }

    fn from_pkey(pkey: PKey<Private>) -> Result<Self, JwtError> {
        let pem = pkey.private_key_to_pem_pkcs8().map_err(crypto)?;
        let enc = EncodingKey::from_ec_pem(&pem).map_err(|e| JwtError::BadKey(e.to_string()))?;
        Ok(Self { pkey, enc })
    }

    /// Reads a PEM key: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, the `.p8` form) or SEC1.
    ///
    /// # Errors
    /// [`JwtError::BadKey`] when the PEM does not hold an EC P-256 private key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, JwtError> {
        let key = PKey::private_key_from_pem(pem).map_err(|e| JwtError::BadKey(e.to_string()))?;
        if !is_p256(&key) {
            return Err(JwtError::BadKey("not an EC P-256 key".into()));
        }
        Self::from_pkey(key)
    }

    /// Reads a PEM key file (the reference reads the file named by `APNS_KEY_FILE`).
    ///
    /// # Errors
    /// [`JwtError::BadKey`] when the file cannot be read or does not hold an EC P-256 key.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, JwtError> {
        let pem = std::fs::read(path.as_ref())
            .map_err(|e| JwtError::BadKey(format!("{}: {e}", path.as_ref().display())))?;
        Self::from_pem(&pem)
    }

    /// The key as PKCS#8 PEM.
    ///
    /// # Errors
    /// [`JwtError::Crypto`] when OpenSSL fails.
    pub fn to_pem(&self) -> Result<Vec<u8>, JwtError> {
        self.pkey.private_key_to_pem_pkcs8().map_err(crypto)
    }

    /// The matching verifying key.
    ///
    /// # Errors
    /// [`JwtError::Crypto`] when OpenSSL fails.
    pub fn verifying_key(&self) -> Result<ApnsVerifyingKey, JwtError> {
        let ec = self.pkey.ec_key().map_err(crypto)?;
        let public = EcKey::from_public_key(ec.group(), ec.public_key()).map_err(crypto)?;
        ApnsVerifyingKey::from_pkey(PKey::from_ec_key(public).map_err(crypto)?)
    }

    /// Signs a provider token issued at `iat` (seconds since the Unix epoch).
    ///
    /// # Errors
    /// [`JwtError::Crypto`] when OpenSSL fails.
    pub fn sign(&self, key_id: &str, team_id: &str, iat: i64) -> Result<String, JwtError> {
        let mut header = Header::new(Algorithm::ES256);
        // the reference's header has no `typ`
        header.typ = None;
        header.kid = Some(key_id.to_string());
        let claims = Claims { iss: team_id.to_string(), iat };
        jsonwebtoken::encode(&header, &claims, &self.enc).map_err(|e| JwtError::Crypto(e.to_string()))
    }
}

/// The public key that verifies provider tokens (what Apple holds).
#[derive(Clone)]
pub struct ApnsVerifyingKey {
    pkey: PKey<Public>,
    dec: DecodingKey,
}

impl fmt::Debug for ApnsVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApnsVerifyingKey(..)")
    }
}

impl ApnsVerifyingKey {
    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    /// [`JwtError::BadKey`] when the PEM does not hold an EC P-256 public key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, JwtError> {
        let key = PKey::public_key_from_pem(pem).map_err(|e| JwtError::BadKey(e.to_string()))?;
        if !is_p256(&key) {
            return Err(JwtError::BadKey("not an EC P-256 key".into()));
        }
        Self::from_pkey(key)
    }

    fn from_pkey(pkey: PKey<Public>) -> Result<Self, JwtError> {
        let pem = pkey.public_key_to_pem().map_err(crypto)?;
        let dec = DecodingKey::from_ec_pem(&pem).map_err(|e| JwtError::BadKey(e.to_string()))?;
        Ok(Self { pkey, dec })
    }

    /// The key as PEM.
    ///
    /// # Errors
    /// [`JwtError::Crypto`] when OpenSSL fails.
    pub fn to_pem(&self) -> Result<Vec<u8>, JwtError> {
        self.pkey.public_key_to_pem().map_err(crypto)
    }

    /// Decodes `token` and checks its ES256 signature; returns the header and claims.
    ///
    /// Only the signature and algorithm are checked here: comparing the key id, team id and
    /// issue time with what is expected is the caller's.
    ///
    /// # Errors
    /// [`JwtError::Malformed`] for a token that is not three base64url parts of JSON objects
    /// with string `alg`, `kid`, `iss` and integer `iat`; [`JwtError::WrongAlgorithm`];
    /// [`JwtError::BadSignature`].
    pub fn verify(&self, token: &str) -> Result<Jwt, JwtError> {
        if token.split('.').count() != 3 {
            return Err(JwtError::Malformed("not three parts"));
        }
        // an algorithm `jsonwebtoken` does not know (`none`) is a header it cannot parse
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed("header"))?;
        if header.alg != Algorithm::ES256 {
            return Err(JwtError::WrongAlgorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(JwtError::Malformed("kid"))?;
        // APNS tokens carry no `exp`: only the signature and the claims' shape are checked
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.dec, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::InvalidEcdsaKey | ErrorKind::Base64(_) => JwtError::BadSignature,
            ErrorKind::InvalidAlgorithm => JwtError::WrongAlgorithm(format!("{:?}", header.alg)),
            _ => JwtError::Malformed("claims"),
        })?;
        Ok(Jwt { kid, iss: data.claims.iss, iat: data.claims.iat })
    }

    /// Whether this is the public half of `key` (compares the points).
    pub fn matches(&self, key: &ApnsSigningKey) -> bool {
        let (Ok(a), Ok(b)) = (self.pkey.ec_key(), key.pkey.ec_key()) else {
            return false;
        };
        BigNumContext::new()
            .and_then(|mut ctx| a.public_key().eq(a.group(), b.public_key(), &mut ctx))
            .unwrap_or(false)
    }
}

/// The verified contents of a provider token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwt {
    /// The key id (`kid`).
    pub kid: String,
    /// The issuer: the team id (`iss`).
    pub iss: String,
    /// The issue time, seconds since the Unix epoch (`iat`).
    pub iat: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp_proto::text::{base64url_decode, base64url_encode};

    fn b64(bytes: &[u8]) -> String {
        base64url_encode(bytes).trim_end_matches('=').to_string()
    }

    fn claims_json(team_id: &str, iat: i64) -> Vec<u8> {
        format!(r#"{{"iss":"{team_id}","iat":{iat}}}"#).into_bytes()
    }

    fn parts(token: &str) -> Vec<Vec<u8>> {
        token
            .split('.')
            .map(|p| base64url_decode(p.as_bytes()).unwrap())
            .collect()
    }

    #[test]
    fn sign_then_verify() {
        let key = ApnsSigningKey::generate().unwrap();
        let token = key.sign("ABC123DEFG", "5NN7GUYB6T", 1_700_000_000).unwrap();
        assert!(!token.contains('='));
        let p = parts(&token);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], br#"{"alg":"ES256","kid":"ABC123DEFG"}"#);
        assert_eq!(p[1], br#"{"iss":"5NN7GUYB6T","iat":1700000000}"#);
        assert_eq!(p[2].len(), 64);
        let jwt = key.verifying_key().unwrap().verify(&token).unwrap();
        assert_eq!(
            jwt,
            Jwt {
                kid: "ABC123DEFG".into(),
                iss: "5NN7GUYB6T".into(),
                iat: 1_700_000_000
            }
        );
    }

    #[test]
    fn other_key_or_tampered_token_fails() {
        let key = ApnsSigningKey::generate().unwrap();
        let other = ApnsSigningKey::generate().unwrap().verifying_key().unwrap();
        let token = key.sign("K", "T", 1).unwrap();
        assert_eq!(other.verify(&token), Err(JwtError::BadSignature));
        let vk = key.verifying_key().unwrap();
        assert!(vk.matches(&key));
        let forged = token.replacen(&b64(&claims_json("T", 1)), &b64(&claims_json("T", 2)), 1);
        assert_ne!(forged, token);
        assert_eq!(vk.verify(&forged), Err(JwtError::BadSignature));
        assert_eq!(
            vk.verify("a.b"),
            Err(JwtError::Malformed("not three parts"))
        );
        assert_eq!(vk.verify("!.b.c"), Err(JwtError::Malformed("header")));
        let none_alg = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"none","kid":"K"}"#),
            b64(&claims_json("T", 1)),
            b64(&[0; 64])
        );
        assert_eq!(vk.verify(&none_alg), Err(JwtError::Malformed("header")));
        let hs256 = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"HS256","kid":"K"}"#),
            b64(&claims_json("T", 1)),
            b64(&[0; 32])
        );
        assert_eq!(vk.verify(&hs256), Err(JwtError::WrongAlgorithm("HS256".into())));
    }

    #[test]
    fn pem_round_trip_and_wrong_curve() {
        let key = ApnsSigningKey::generate().unwrap();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
        let back = ApnsSigningKey::from_pem(&pem).unwrap();
        let vk =
            ApnsVerifyingKey::from_pem(&key.verifying_key().unwrap().to_pem().unwrap()).unwrap();
        assert!(vk.verify(&back.sign("K", "T", 5).unwrap()).is_ok());
        let p384 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap();
        let p384 = PKey::from_ec_key(p384)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        assert!(matches!(
            ApnsSigningKey::from_pem(&p384),
            Err(JwtError::BadKey(_))
        ));
        assert!(matches!(
            ApnsSigningKey::from_pem(b"garbage"),
            Err(JwtError::BadKey(_))
        ));
        assert!(matches!(
            ApnsSigningKey::from_pem_file("/nonexistent/key.p8"),
            Err(JwtError::BadKey(_))
        ));
    }
}
