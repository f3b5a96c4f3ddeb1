//! Deterministic Ed25519 certificates for the handshake vectors: a self-signed CA and leaf
//! certificates it signs, as minimal X.509 v3 certificates without extensions (the shape of
//! the reference's test certificates).

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::anyhow;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::der::asn1::{BitString, UtcTime};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::Encode as _;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use super::build::Family;

/// Ed25519 (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// 2024-01-01T00:00:00Z.
const NOT_BEFORE: u64 = 1_704_067_200;
/// 2034-01-01T00:00:00Z.
const NOT_AFTER: u64 = 2_019_686_400;

fn ed25519_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ED25519,
        parameters: None,
    }
}

fn utc(secs: u64) -> anyhow::Result<Time> {
    Ok(Time::UtcTime(
        UtcTime::from_unix_duration(Duration::from_secs(secs)).map_err(|e| anyhow!("{e}"))?,
    ))
}

/// The DER of a certificate for `subject_key` named `CN=subject`, signed by `issuer_seed`
/// on behalf of `CN=issuer`.
pub fn certificate(
    subject: &str,
    subject_key: &[u8; 32],
    issuer: &str,
    issuer_seed: &[u8; 32],
    serial: u8,
) -> anyhow::Result<Vec<u8>> {
    let e = |e: x509_cert::der::Error| anyhow!("building a certificate: {e}");
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[serial]).map_err(e)?,
        signature: ed25519_alg(),
        issuer: Name::from_str(&format!("CN={issuer}")).map_err(e)?,
        validity: Validity {
            not_before: utc(NOT_BEFORE)?,
            not_after: utc(NOT_AFTER)?,
        },
        subject: Name::from_str(&format!("CN={subject}")).map_err(e)?,
        subject_public_key_info: SubjectPublicKeyInfoOwned {
            algorithm: ed25519_alg(),
            subject_public_key: BitString::from_bytes(subject_key).map_err(e)?,
        },
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let signature = smp_proto::crypto::sign_ed25519(issuer_seed, &tbs.to_der().map_err(e)?);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ed25519_alg(),
        signature: BitString::from_bytes(&signature).map_err(e)?,
    };
    cert.to_der().map_err(e)
}

/// The certificates of a server: a CA and the certificates it signs.
pub struct Chain {
    /// The leaf's Ed25519 seed (it signs the session key).
    pub leaf_seed: [u8; 32],
    /// Leaf (TLS) certificate DER (`CN=server`, signed by the CA).
    pub leaf: Vec<u8>,
    /// Identity certificate DER (`CN=identity`, signed by the CA), for 3-certificate chains.
    pub identity: Vec<u8>,
    /// CA certificate DER (`CN=CA`, self-signed).
    pub ca: Vec<u8>,
}

impl Chain {
    /// A fresh chain from the family's random stream.
    pub fn new(f: &mut Family) -> anyhow::Result<Self> {
        let (ca_seed, ca_pub) = f.ed25519();
        let (leaf_seed, leaf_pub) = f.ed25519();
        let (_, identity_pub) = f.ed25519();
        let ca = certificate("CA", &ca_pub, "CA", &ca_seed, 1)?;
        let leaf = certificate("server", &leaf_pub, "CA", &ca_seed, 2)?;
        let identity = certificate("identity", &identity_pub, "CA", &ca_seed, 3)?;
        Ok(Self {
            leaf_seed,
            leaf,
            identity,
            ca,
        })
    }

    /// The DER of an X25519 key signed by the leaf key (a server's signed session key).
    pub fn signed_key(&self, x25519_public: [u8; 32]) -> Vec<u8> {
        let key = smp_proto::keys::PublicKey::X25519(x25519_public);
        smp_proto::crypto::SignedKey::sign_ed25519(&self.leaf_seed, &key)
            .der()
            .to_vec()
    }
}
